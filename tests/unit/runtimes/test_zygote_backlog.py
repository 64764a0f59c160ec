"""The zygote client queues spawn requests while its socket's buffer is full (a burst of cold starts), instead of
failing them with BlockingIOError, and sends them in order, with their fds, once the zygote reads again."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from hearth.runtimes.python.runtime import Zygote


class Instance:
    def __init__(self, ident: int) -> None:
        self.id = ident
        self.exits: list[tuple[int | None, str | None]] = []

    def on_spawned(self, pid: int) -> None:
        pass

    def on_exit(self, status: int | None, error: str | None = None) -> None:
        self.exits.append((status, error))


def test_a_full_socket_queues_requests_and_sends_them_in_order_with_their_fds() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], int]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        zygote = Zygote("python", {})
        zygote._socket = ours  # the seam: a zygote that does not read yet
        filler = 0
        for _ in range(100_000):  # fill the buffer, bounded
            try:
                ours.send(b"x" * 4096)
                filler += 1
            except BlockingIOError:
                break
        pipes = [os.pipe() for _ in range(3)]
        instances = [Instance(i) for i in range(3)]
        spec: dict[str, Any] = {"n": 0}
        for instance, (read_end, write_end) in zip(instances, pipes, strict=True):
            zygote.spawn(instance, dict(spec, n=instance.id), read_end, write_end)  # type: ignore[arg-type]
            os.close(read_end)  # as the instance does: its copies are closed at once
            os.close(write_end)
        queued = len(zygote._backlog)
        theirs.setblocking(False)
        received: list[bytes] = []
        fd_tags: list[bytes] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(received) < filler + 3 and loop.time() < deadline:
            try:
                message, fds, _flags, _addr = socket.recv_fds(theirs, 65536, 2)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            received.append(message)
            if fds:
                os.write(fds[1], b"via " + message.split(b"\n")[1])  # the write end that was passed still works
                fd_tags.append(os.read(fds[0], 100))
                for fd in fds:
                    os.close(fd)
        zygote._socket = None
        ours.close()
        theirs.close()
        return received[filler:], fd_tags, queued

    spawns, tags, queued = asyncio.run(scenario())
    assert queued == 3
    assert [message.split(b"\n")[1] for message in spawns] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert tags == [b'via {"n":0}', b'via {"n":1}', b'via {"n":2}']
