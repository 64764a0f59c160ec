"""The zygote keeps a spare child forked ahead of need: a request goes straight to it, and it is replaced."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable

from hearth.runtimes.python import runtime
from hearth.runtimes.python.runtime import Zygote

WAIT_S = 10.0


class Process:
    def __init__(self) -> None:
        self.id = 1
        self.pid: int | None = None
        self.exited: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    def on_spawned(self, pid: int) -> None:
        self.pid = pid

    def on_exit(self, status: int | None, error: str | None = None) -> None:
        if not self.exited.done():
            self.exited.set_result(status)


async def _until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not condition():
        assert loop.time() < deadline, f"{what} within {WAIT_S:g} s"
        await asyncio.sleep(0.005)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_request_goes_to_the_spare_which_is_then_replaced() -> None:
    async def scenario() -> tuple[int, int | None, int | None, bytes, int]:
        zygote = Zygote(sys.executable, dict(os.environ))
        await zygote.start()
        try:
            await _until(lambda: zygote._spare is not None, "a spare")
            assert zygote._spare is not None
            spare_pid = zygote._spare.pid
            process = Process()
            read_end, write_end = os.pipe()
            spec = {"argv": ["/bin/sh", "-c", "echo from the spare; exit 3"], "env": {"PATH": "/usr/bin:/bin"},
                    "cwd": "/"}
            zygote.execute(process, spec, write_end)
            os.close(write_end)
            status = await asyncio.wait_for(process.exited, WAIT_S)
            said = os.read(read_end, 100)
            os.close(read_end)
            await _until(lambda: zygote._spare is not None, "the next spare")
            assert zygote._spare is not None
            return spare_pid, process.pid, status, said, zygote._spare.pid
        finally:
            zygote.close()

    spare_pid, pid, status, said, next_pid = asyncio.run(scenario())
    assert pid == spare_pid  # no fork on the way: the spare became the program
    assert said == b"from the spare\n"
    assert status is not None and os.waitstatus_to_exitcode(status) == 3  # its exit reported as the request's
    assert next_pid != spare_pid


def test_spares_that_die_unclaimed_are_replaced_until_too_many_have() -> None:
    async def scenario() -> tuple[list[int], bool]:
        zygote = Zygote(sys.executable, dict(os.environ))
        await zygote.start()
        killed: list[int] = []
        try:
            for _ in range(runtime.SPARE_FAILURES):
                await _until(lambda: zygote._spare is not None, "a spare")
                assert zygote._spare is not None
                pid = zygote._spare.pid
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                await _until(lambda dead=pid: zygote._spare is None or zygote._spare.pid != dead,  # type: ignore[misc]
                             "the dead spare noticed")
            await _until(lambda: zygote._spare_asked is None, "no spare asked for")
            await asyncio.sleep(0.2)  # time enough for a spare, were one asked for
            no_more = zygote._spare is None and zygote._spare_asked is None
        finally:
            zygote.close()
        return killed, no_more

    killed, no_more = asyncio.run(scenario())
    assert len(set(killed)) == runtime.SPARE_FAILURES  # each was replaced by a new process
    assert no_more  # a zygote whose spares keep dying forks on demand instead of in a loop


def test_closing_the_zygote_ends_its_spare() -> None:
    async def scenario() -> int:
        zygote = Zygote(sys.executable, dict(os.environ))
        await zygote.start()
        try:
            await _until(lambda: zygote._spare is not None, "a spare")
            assert zygote._spare is not None
            return zygote._spare.pid
        finally:
            zygote.close()

    pid = asyncio.run(scenario())
    deadline = time.monotonic() + WAIT_S
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _gone(pid), f"the spare {pid} outlived its zygote"
