"""The ``http`` runtime's ``forward``: one exchange through a keep-alive pool to a scripted server on loopback."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from hearth import errors
from hearth.asgi import Message
from hearth.pool.deadlines import DeadlineSweep
from hearth.runtimes.http.client import ConnectionPool
from hearth.runtimes.http.proxy import Outcome, forward

SCOPE = {"type": "http", "http_version": "1.1", "scheme": "http", "method": "GET", "path": "/", "raw_path": b"/",
         "query_string": b"", "headers": [(b"host", b"x")], "client": ("127.0.0.1", 5000),
         "server": ("127.0.0.1", 8080)}


class _Instance:
    """The part of a ``ServerProcess`` that ``forward`` uses."""

    def __init__(self, port: int) -> None:
        self.connections = ConnectionPool(port)
        self.runtime = SimpleNamespace(deadlines=DeadlineSweep())

    async def failure(self, timed_out: bool, timeout_s: float) -> tuple[errors.FunctionFailure, str]:
        return errors.ServerConnectionError("the server closed the connection"), "error"


async def _exchange(instance: _Instance, body: list[Message] | None = None) -> tuple[Outcome, list[Message]]:
    sent: list[Message] = []
    messages = list(body or [])
    scope = dict(SCOPE, headers=[*SCOPE["headers"], (b"content-length", b"4")]) if body else SCOPE

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    outcome = await forward(instance, scope, receive, send, "rid", lambda headers: headers,  # type: ignore[arg-type]
                            5.0)
    return outcome, sent


def test_a_request_on_a_keep_alive_connection_the_server_just_closed_is_sent_again_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"content-length: 4" in head:
                await reader.readexactly(4)
            if answered == 1:  # the idle timeout struck as the next request came in: closed without an answer
                writer.close()
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            answered += 1

    async def main() -> list[Any]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        instance = _Instance(server.sockets[0].getsockname()[1])
        try:
            seen: list[Any] = []
            for _ in range(2):
                outcome, sent = await _exchange(instance)
                seen.append((outcome.status, sent[0]["status"], sent[1]["body"], sent[1]["more_body"]))
            seen.append(instance.connections.opened)
            # a body that came in several messages was not all in the first write: no second try
            outcome, sent = await _exchange(instance, [{"type": "http.request", "body": b"ab", "more_body": True},
                                                       {"type": "http.request", "body": b"cd"}])
            seen.append((outcome.status, outcome.started, sent))
            return seen
        finally:
            instance.connections.close()
            server.close()

    first, second, opened, streamed = asyncio.run(main())
    assert first == second == ("success", 200, b"ok", False)
    assert opened == 2  # the first connection, then a new one for the request sent again
    assert streamed[0] == "error" and not streamed[1] and not streamed[2]
