"""A log pipe keeps at most ``LOG_CAP_BYTES`` of a phase's output, counts the rest and says so."""

from __future__ import annotations

import asyncio
import os

from hearth.runtimes.logs import LOG_CAP_BYTES, LogPipe

BLOCK = 64 * 1024


def feed(write: int, pipe: LogPipe, data: bytes) -> None:
    """Write ``data`` through the pipe in blocks, reading after each (as the event loop would)."""
    for start in range(0, len(data), BLOCK):
        os.write(write, data[start:start + BLOCK])
        pipe.read()


def test_output_over_the_cap_is_dropped_and_reported() -> None:
    async def body() -> None:
        read, write = os.pipe()
        pipe = LogPipe(read)
        try:
            line = b"y" * 1023 + b"\n"
            feed(write, pipe, line * (3 * LOG_CAP_BYTES // len(line)))
            lines = pipe.end_phase()
            kept = sum(len(text) + 1 for text in lines[:-1])
            assert kept <= LOG_CAP_BYTES
            assert lines[-1] == f"[hearth] output over 1024 KiB for this invocation: {2 * LOG_CAP_BYTES} bytes dropped"
            assert pipe.end_phase(drain=False) == []  # the next invocation starts with a fresh cap
        finally:
            pipe.close()
            os.close(write)

    asyncio.run(body())


def test_output_without_newlines_is_not_held_whole() -> None:
    async def body() -> None:
        read, write = os.pipe()
        pipe = LogPipe(read)
        try:
            feed(write, pipe, b"z" * (4 * LOG_CAP_BYTES))
            assert len(pipe.tail()) <= 2 * LOG_CAP_BYTES  # what waits for a newline stays bounded
            lines = pipe.end_phase()
            assert len(lines) <= 2 and lines[-1].endswith("bytes dropped")
            assert sum(len(text) for text in lines[:-1]) <= LOG_CAP_BYTES
        finally:
            pipe.close()
            os.close(write)

    asyncio.run(body())
