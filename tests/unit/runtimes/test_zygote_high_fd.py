"""A zygote started while the platform holds many descriptors (a sandbox's, or one restarted after a crash) gets
its control socket at a high fd number, and still serves: it waits with poll(), not select()."""

from __future__ import annotations

import asyncio
import os
import resource
import sys

import pytest

from hearth.runtimes.python.runtime import Zygote

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
