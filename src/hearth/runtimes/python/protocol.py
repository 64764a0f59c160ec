"""Frames on the channel between the platform and a Python instance (a Unix socketpair).

A frame is ``!I`` length (of the kind byte plus the body), one kind byte, then the body:

    worker → platform   READY       orjson {"pid", "init_ms"}
                        INIT_ERROR  orjson {"errorType", "errorMessage", "stackTrace", "init_ms"}
                        RESULT      RESULT_HEAD (duration_ms, max_rss_kb, flags) + the handler's result as JSON
                        ERROR       RESULT_HEAD + orjson {"errorType", "errorMessage", "stackTrace"}
    platform → worker   INVOKE      orjson {"id", "deadline_ms", "trace_id", "event"}

This module is imported by the zygote, so it imports nothing heavy.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct("!IB")
RESULT_HEAD = struct.Struct("!dQB")  # duration_ms, max_rss_kb, flags
LOGS_PENDING = 1  # result flag: the instance's log pipe still holds unread bytes, drain it before completing

READY = ord("R")
INIT_ERROR = ord("F")
RESULT = ord("O")
ERROR = ord("E")
INVOKE = ord("V")

MAX_FRAME = 64 * 1024 * 1024  # a frame bigger than this is a protocol violation


def frame(kind: int, body: bytes) -> bytes:
    """One frame, ready for a single ``write``."""
    return HEADER.pack(len(body) + 1, kind) + body
