"""A log pipe gives every line the time it was read: one clock read per chunk, kept for the phase just closed."""

from __future__ import annotations

import asyncio
import os
import time

from hearth.runtimes.logs import LogPipe


def test_lines_carry_the_time_they_were_read() -> None:
    async def body() -> None:
        read, write = os.pipe()
        pipe = LogPipe(read)
        try:
            os.write(write, b"first\nsecond\n")
            before = time.time()
            pipe.read()
            time.sleep(0.02)
            os.write(write, b"third\nunfinished")
            pipe.read()
            assert pipe.end_phase() == ["first", "second", "third", "unfinished"]
            first, second, third, last = pipe.last_times
            assert before <= first == second < third <= last <= time.time()
            assert third - first >= 0.02
            assert pipe.end_phase(drain=False) == [] and pipe.last_times == []
        finally:
            pipe.close()
            os.close(write)

    asyncio.run(body())
