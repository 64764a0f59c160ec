"""``OneWriteHttpToolsProtocol``: the same responses as uvicorn's protocol, each in one write."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from hearth.http_protocol import OneWriteHttpToolsProtocol, _HeadHeldBack

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Transport:
    """Records what is written, and whether it was closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def held() -> tuple[_HeadHeldBack, Transport, list[str]]:
    transport = Transport()
    completed: list[str] = []
    return _HeadHeldBack(transport, lambda: completed.append("done")), transport, completed


def test_head_and_body_leave_in_one_write() -> None:
    wrapper, transport, completed = held()
    wrapper.write(HEAD)
    assert transport.writes == []
    wrapper.write(b"ok")
    wrapper.response_complete()
    assert transport.writes == [HEAD + b"ok"] and completed == ["done"]


def test_later_chunks_are_written_as_they_come() -> None:
    wrapper, transport, _ = held()
    for data in (HEAD, b"a", b"b"):
        wrapper.write(data)
    assert transport.writes == [HEAD + b"a", b"b"]


def test_a_response_without_body_bytes_is_sent_when_it_completes() -> None:
    wrapper, transport, completed = held()
    wrapper.write(HEAD)
    wrapper.response_complete()
    assert transport.writes == [HEAD] and completed == ["done"]


def test_continue_goes_out_at_once_and_close_flushes_the_head() -> None:
    wrapper, transport, _ = held()
    wrapper.write(CONTINUE)
    assert transport.writes == [CONTINUE]
    wrapper.write(HEAD)
    wrapper.close()
    assert transport.writes == [CONTINUE, HEAD] and transport.closed and wrapper.is_closing()


def test_other_transport_methods_pass_through() -> None:
    wrapper, _, _ = held()
    assert wrapper.get_write_buffer_size() == 0


async def _app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
               send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"] == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    reply = body or b"hello"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(reply)).encode())]})
    await send({"type": "http.response.body", "body": reply})


async def _exchange(requests: bytes, size: int) -> bytes:
    """Serve ``_app`` on port 0, send ``requests`` on one connection, read ``size`` bytes of responses."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    config = uvicorn.Config(_app, loop="none", http=OneWriteHttpToolsProtocol, lifespan="off", access_log=False,
                            log_config=None, log_level="warning", server_header=False, date_header=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        writer.write(requests)
        received = await asyncio.wait_for(reader.readexactly(size), 5)
        writer.close()
        await writer.wait_closed()
        return received
    finally:
        server.should_exit = True
        await serving
        sock.close()


def test_real_server_answers_get_head_204_and_expect_continue_on_one_connection() -> None:
    requests = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n"
                b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nping")
    expected = (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
                b"HTTP/1.1 204 No Content\r\n\r\n"
                b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nping")
    assert asyncio.run(_exchange(requests, len(expected))) == expected
