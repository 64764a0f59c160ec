"""The descriptors of the zygote's control socket. A zygote started while the platform holds many (a sandbox's, or
one restarted after a crash) gets its socket at a high fd number, and still serves: it waits with poll(), not
select(). A request carries at most ``MAX_FDS``: one whose descriptors did not all arrive starts nothing."""

from __future__ import annotations

import asyncio
import os
import resource
import sys

import pytest

from hearth.runtimes.python.runtime import Zygote
from hearth.runtimes.python.zygote import MAX_FDS

HIGH = 1100  # over select()'s FD_SETSIZE (1,024)


class Started:
    """A stand-in for an instance: records the zygote's reports about it."""

    id = 1

    def __init__(self) -> None:
        self.pid = 0
        self.exited: asyncio.Future[tuple[int | None, str | None]] = asyncio.get_running_loop().create_future()

    def on_spawned(self, pid: int) -> None:
        self.pid = pid

    def on_exit(self, status: int | None, error: str | None = None) -> None:
        if not self.exited.done():
            self.exited.set_result((status, error))


def test_a_zygote_whose_control_socket_is_above_fd_setsize_still_starts_processes() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < HIGH + 64:
        pytest.skip(f"RLIMIT_NOFILE's hard limit ({hard}) is too low to hold {HIGH} descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, HIGH + 64), hard))
    filler = []
    try:
        while len(filler) < HIGH:
            filler.append(os.open(os.devnull, os.O_RDONLY))

        async def main() -> tuple[int | None, str | None]:
            zygote = Zygote(sys.executable, {})
            await zygote.start(30)
            try:
                started = Started()
                read, write = os.pipe()
                try:
                    zygote.execute(started, {"argv": ["/bin/true"], "env": {}, "cwd": "/"}, write)
                finally:
                    os.close(write)
                    os.close(read)
                return await asyncio.wait_for(started.exited, 30)
            finally:
                zygote.close()

        status, error = asyncio.run(main())
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert error is None and status == 0, (status, error)


def test_a_request_whose_descriptors_did_not_all_arrive_is_refused() -> None:
    """Descriptors past ``MAX_FDS`` are dropped by the kernel; a child started without one of its cgroup files
    would run outside that limit, so the zygote starts nothing and says why."""

    async def main() -> tuple[int | None, str | None, int]:
        zygote = Zygote(sys.executable, {})
        await zygote.start(30)
        try:
            started = Started()
            opened = [os.open(os.devnull, os.O_WRONLY) for _ in range(MAX_FDS + 1)]  # the log, then too many joins
            try:
                zygote.execute(started, {"argv": ["/bin/true"], "env": {}, "cwd": "/"}, opened[0], opened[1:])
            finally:
                for fd in opened:
                    os.close(fd)
            status, error = await asyncio.wait_for(started.exited, 30)
            return status, error, started.pid
        finally:
            zygote.close()

    status, error, pid = asyncio.run(main())
    assert pid == 0 and error is not None and f"more than {MAX_FDS} descriptors" in error, (status, error)
