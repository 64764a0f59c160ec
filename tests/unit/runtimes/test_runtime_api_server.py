"""The Runtime API's HTTP layer over a real loopback socket: routing, body encodings (Content-Length, chunked with
trailers, as Go sends them), keep-alive, the long poll, and answers to malformed requests."""

from __future__ import annotations

import asyncio
from typing import Any

from hearth.runtimes.lambda_api.server import MAX_BODY, Reply, listen


class Recorder:
    """A RuntimeApiHandler that records each call; ``/next`` is held until ``release`` answers it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.held: Reply | None = None

    def next_invocation(self, reply: Reply) -> None:
        self.calls.append(("next",))
        self.held = reply

    def invocation_response(self, request_id: str, body: bytes, too_large: bool, reply: Reply) -> None:
        self.calls.append(("response", request_id, body, too_large))
        reply.accepted()

    def invocation_error(self, request_id: str, body: bytes, error_type: str | None, reply: Reply) -> None:
        self.calls.append(("error", request_id, body, error_type))
        reply.accepted()

    def init_error(self, body: bytes, error_type: str | None, reply: Reply) -> None:
        self.calls.append(("init_error", body, error_type))
        reply.accepted()


async def exchange(recorder: Recorder, *requests: bytes, read_until_close: bool = False) -> list[bytes]:
    """Send ``requests`` on one connection, one at a time, and return each raw response."""
    server = await listen(recorder)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    responses = []
    try:
        for request in requests:
            writer.write(request)
            responses.append(await asyncio.wait_for(_response(reader), 5))
        if read_until_close:
            responses.append(await asyncio.wait_for(reader.read(), 5))
    finally:
        writer.close()
        server.close()
    return responses


async def _response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    return head + await reader.readexactly(length)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_content_length_response_and_keep_alive() -> None:
    recorder = Recorder()
    body = b'{"ok":true}'
    request = (b"POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    first, second = run(exchange(recorder, request, request))
    assert first.startswith(b"HTTP/1.1 202 Accepted\r\n") and first.endswith(b'{"status":"OK"}')
    assert second.startswith(b"HTTP/1.1 202 ")  # the same connection serves the next request
    assert recorder.calls == [("response", "abc", body, False)] * 2


def test_chunked_body_with_trailer() -> None:
    recorder = Recorder()
    request = (b"POST /2018-06-01/runtime/invocation/r1/error HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n"
               b"Lambda-Runtime-Function-Error-Type: Late.Type\r\n\r\n")
    [reply] = run(exchange(recorder, request))
    assert reply.startswith(b"HTTP/1.1 202 ")
    assert recorder.calls == [("error", "r1", b"hello world", "Late.Type")]  # a trailer is read like a header


def test_error_type_header() -> None:
    recorder = Recorder()
    request = (b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\n"
               b"Lambda-Runtime-Function-Error-Type: Runtime.Custom\r\nContent-Length: 2\r\n\r\n{}")
    run(exchange(recorder, request))
    assert recorder.calls == [("init_error", b"{}", "Runtime.Custom")]


def test_next_is_a_long_poll_answered_later() -> None:
    recorder = Recorder()

    async def scenario() -> bytes:
        server = await listen(recorder)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        pending = asyncio.ensure_future(_response(reader))
        await asyncio.sleep(0.05)
        assert not pending.done() and recorder.held is not None and recorder.held.open
        recorder.held.send(200, b'{"event":1}', [("Lambda-Runtime-Aws-Request-Id", "id-1")])
        response = await asyncio.wait_for(pending, 5)
        writer.close()
        server.close()
        return response

    response = run(scenario())
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Lambda-Runtime-Aws-Request-Id: id-1\r\n" in response and response.endswith(b'{"event":1}')


def test_body_over_the_limit_is_flagged_not_kept() -> None:
    recorder = Recorder()
    size = MAX_BODY + 10
    request = (b"POST /2018-06-01/runtime/invocation/big/response HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: %d\r\n\r\n" % size) + b"x" * size
    run(exchange(recorder, request))
    [(kind, request_id, body, too_large)] = recorder.calls
    assert (kind, request_id, too_large) == ("response", "big", True) and len(body) <= MAX_BODY


def test_wrong_paths_and_methods() -> None:
    recorder = Recorder()
    not_found, wrong_method, other = run(exchange(
        recorder,
        b"GET /2018-06-01/runtime/elsewhere HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"GET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n\r\n",
    ))
    assert not_found.startswith(b"HTTP/1.1 404 ") and b'"errorType":"NotFound"' in not_found
    assert wrong_method.startswith(b"HTTP/1.1 405 ")
    assert other.startswith(b"HTTP/1.1 404 ")
    assert recorder.calls == []


def test_malformed_request_is_answered_and_closed() -> None:
    recorder = Recorder()
    [reply, rest] = run(exchange(recorder, b"NOT HTTP AT ALL\r\n\r\n", read_until_close=True))
    assert reply.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in reply
    assert rest == b""
    assert recorder.calls == []
