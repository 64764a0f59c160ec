"""Frames on the channel between the platform and a Python instance (a Unix socketpair).

A frame is ``!I`` length (of the kind byte plus the body), one kind byte, then the body:

    worker → platform   READY       orjson {"pid", "init_ms", "streams"?}
                        INIT_ERROR  orjson {"errorType", "errorMessage", "stackTrace", "init_ms"}
                        RESULT      RESULT_HEAD (duration_ms, max_rss_kb, flags) + the handler's result as JSON
                        ERROR       RESULT_HEAD + orjson {"errorType", "errorMessage", "stackTrace"}
                        HEAD        orjson {"status", "headers": [[name, value], ...]}: a streamed response begins
                        CHUNK       the next bytes of a streamed response's body
                        CANCELLED   the worker has read a CANCEL (none is left on the channel)
    platform → worker   INVOKE      orjson {"id", "deadline_ms", "trace_id", "event"}
                        INVOKE_STREAM  the same body; the response may stream (sent only to a READY with "streams")
                        CANCEL      the client of a streamed response has gone: stop the stream

A streamed invocation is HEAD, CHUNK…, then the usual RESULT (payload ``null``) or ERROR; the stream is complete
only with the RESULT. Every CANCEL is answered with one CANCELLED, and the platform sends nothing after a CANCEL
until that answer arrives, so a CANCEL that crosses the end of its stream is read alone between invocations.

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
INVOKE_STREAM = ord("S")
CANCEL = ord("X")
HEAD = ord("H")
CHUNK = ord("C")
CANCELLED = ord("K")

MAX_FRAME = 64 * 1024 * 1024  # a frame bigger than this is a protocol violation
MAX_CHUNK = 1024 * 1024  # a streamed body is sent in CHUNK frames of at most this many bytes


def frame(kind: int, body: bytes) -> bytes:
    """One frame, ready for a single ``write``."""
    return HEADER.pack(len(body) + 1, kind) + body
