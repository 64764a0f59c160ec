"""Hearth's HTTP/1.1 server, driven by raw sockets on loopback (port 0) and, for the grouping of writes, by a
recording transport."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from hearth import errors, http_server
from hearth.asgi import Message, Scope, read_body
from hearth.http_server import HttpServer

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
HELLO = b'{"message":"hello"}'


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": HELLO})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the whole request body, and the pieces it came in as a header."""
    pieces = []
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        pieces.append(message["body"])
        if not message["more_body"]:
            break
    body = b"".join(pieces)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"x-pieces", str(len(pieces)).encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def streamed(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for part in (b"one", b"two"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


_writers: list[asyncio.StreamWriter] = []


async def connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client connection, closed by the end of the test's event loop."""
    reader, writer = await asyncio.open_connection(host, port)
    _writers.append(writer)
    return reader, writer


async def close_clients() -> None:
    while _writers:
        writer = _writers.pop()
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def serve(app: App, scenario: Callable[[int], Awaitable[Any]], **options: float) -> Any:
    """Run ``app`` on a free loopback port and ``scenario(port)`` against it."""
    async def main() -> Any:
        server = HttpServer(app, **options)
        sock = socket.create_server(("127.0.0.1", 0))
        await server.start(sock)
        try:
            return await asyncio.wait_for(scenario(sock.getsockname()[1]), 20)
        finally:
            await close_clients()
            await server.shutdown(grace_s=1)
    return asyncio.run(main())


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One response: status line, headers (lower-case names) and body (Content-Length, chunked or to EOF)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b": ")
            headers[name.lower()] = value
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    elif lines[0].split(b" ")[1] in (b"204", b"304", b"101"):
        body = b""
    else:
        body = await reader.read()
    return lines[0], headers, body


async def closed(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection (EOF within 5 s)."""
    return await asyncio.wait_for(reader.read(), 5) == b""


def test_keep_alive_serves_requests_in_turn_with_a_content_length_added() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        for _ in range(3):
            writer.write(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            status, headers, body = await read_response(reader)
            assert status == b"HTTP/1.1 200 OK"
            assert headers[b"content-length"] == str(len(HELLO)).encode() and body == HELLO
            assert b"connection" not in headers
        writer.close()
    serve(hello, scenario)


def test_pipelined_requests_are_answered_in_order() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/slow":
            await asyncio.sleep(0.05)
        body = scope["path"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async def scenario(port: int) -> list[bytes]:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /fast HTTP/1.1\r\nHost: a\r\n\r\n"
                     b"POST /third HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        bodies = [(await read_response(reader))[2] for _ in range(3)]
        writer.close()
        return bodies
    assert serve(app, scenario) == [b"/slow", b"/fast", b"/third"]


@pytest.mark.parametrize(("request_head", "keeps_alive"), [
    (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\n\r\n", False),
    (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
])
def test_connection_close_and_http_1_0(request_head: bytes, keeps_alive: bool) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(request_head)
        status, headers, body = await read_response(reader)
        assert body == HELLO
        if keeps_alive:
            writer.write(request_head)
            assert (await read_response(reader))[2] == HELLO
        else:
            assert headers[b"connection"] == b"close"
            assert await closed(reader)
        writer.close()
    serve(hello, scenario)


def test_a_streamed_response_is_chunked_on_1_1_and_ends_with_the_connection_on_1_0() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        _, headers, body = await read_response(reader)
        assert headers[b"transfer-encoding"] == b"chunked" and body == b"onetwo"
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        _, headers, body = await read_response(reader)
        assert b"transfer-encoding" not in headers and headers[b"connection"] == b"close" and body == b"onetwo"
        writer.close()
    serve(streamed, scenario)


def test_head_204_and_304_carry_no_body() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        status = int(scope["path"].strip("/") or 200)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"5")]
                    if status == 200 else []})
        await send({"type": "http.response.body", "body": b"hello" if status == 200 else b""})

    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"HEAD / HTTP/1.1\r\n\r\nGET /204 HTTP/1.1\r\n\r\nGET /304 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 5" in head
        no_content = await reader.readuntil(b"\r\n\r\n")
        assert no_content.startswith(b"HTTP/1.1 204") and b"content-length" not in no_content
        not_modified = await reader.readuntil(b"\r\n\r\n")
        assert not_modified.startswith(b"HTTP/1.1 304")
        status, _, body = await read_response(reader)  # the bytes right after the 304's head are the next response
        assert status == b"HTTP/1.1 200 OK" and body == b"hello"
        writer.close()
    serve(app, scenario)


def test_a_large_body_streams_in_pieces_and_a_chunked_one_is_decoded() -> None:
    big = bytes(range(256)) * 8192  # 2 MiB

    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big))
        for offset in range(0, len(big), 256 * 1024):
            writer.write(big[offset:offset + 256 * 1024])
            await writer.drain()
        _, headers, body = await read_response(reader)
        assert body == big and int(headers[b"x-pieces"]) > 1
        writer.write(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        assert (await read_response(reader))[2] == b"abcde"
        writer.close()
    serve(echo, scenario)


def test_100_continue_is_sent_only_when_the_application_reads_the_body() -> None:
    reads: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/read":
            reads.append("read")
            await echo(scope, receive, send)
        else:
            await send({"type": "http.response.start", "status": 413, "headers": [(b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b"no"})

    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"POST /read HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"body")
        assert (await read_response(reader))[2] == b"body"
        writer.write(b"POST /refuse HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        status, _, _ = await read_response(reader)
        assert status.startswith(b"HTTP/1.1 413")  # no 100 Continue before it
        assert await closed(reader)
    serve(app, scenario)
    assert reads == ["read"]


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"NOT HTTP AT ALL\r\n\r\n", b"400"),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (http_server.MAX_HEAD_BYTES + 1) + b"\r\n\r\n", b"431"),
    (b"GET /" + b"a" * http_server.MAX_URL_BYTES + b" HTTP/1.1\r\n\r\n", b"414"),
], ids=["garbage", "head-too-large", "uri-too-long"])
def test_a_bad_request_is_answered_and_closed(request_bytes: bytes, status: bytes) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(request_bytes)
        line, headers, _ = await read_response(reader)
        assert line.split(b" ")[1] == status and headers[b"connection"] == b"close"
        assert await closed(reader)
    serve(hello, scenario)


def test_a_target_at_the_limit_is_served() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET /" + b"a" * (http_server.MAX_URL_BYTES - 1) + b" HTTP/1.1\r\n\r\n")
        line, _, _ = await read_response(reader)
        assert line.split(b" ")[1] == b"200"
    serve(hello, scenario)


def test_a_head_sent_slowly_times_out_with_408_while_others_are_served() -> None:
    async def scenario(port: int) -> float:
        slow_reader, slow = await connect("127.0.0.1", port)
        started = asyncio.get_running_loop().time()
        answer = asyncio.ensure_future(read_response(slow_reader))
        for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 100:  # bounded: 100 bytes, stopped by the 408
            if answer.done():
                break
            slow.write(bytes([byte]))
            await asyncio.sleep(0.05)
            reader, writer = await connect("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            assert (await read_response(reader))[0].split(b" ")[1] == b"200"
        line, headers, body = await asyncio.wait_for(answer, 5)
        assert line.split(b" ")[1] == b"408" and headers[b"connection"] == b"close"
        assert b"Request head not received in time" in body
        assert await closed(slow_reader)
        return asyncio.get_running_loop().time() - started
    elapsed = serve(hello, scenario, head_timeout_s=0.5)
    assert 0.5 <= elapsed < 3.0


def test_an_application_that_fails_gets_a_500_and_the_server_keeps_serving() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/raise":
            raise RuntimeError("boom")
        if scope["path"] == "/nothing":
            return
        if scope["path"] == "/cut":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
            await send({"type": "http.response.body", "body": b"abc", "more_body": True})
            return
        await hello(scope, receive, send)

    async def scenario(port: int) -> None:
        for path in (b"/raise", b"/nothing"):
            reader, writer = await connect("127.0.0.1", port)
            writer.write(b"GET %b HTTP/1.1\r\n\r\n" % path)
            status, _, _ = await read_response(reader)
            assert status == b"HTTP/1.1 500 Internal Server Error"
            assert await closed(reader)
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET /cut HTTP/1.1\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == b"abc"  # cut off: closed before the 10 bytes
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert (await read_response(reader))[2] == HELLO
        writer.close()
    serve(app, scenario)


def test_the_application_sees_the_client_go() -> None:
    seen: asyncio.Queue[str] = asyncio.Queue()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "http.request"  # the (empty) body
        seen.put_nowait((await receive())["type"])  # then waits until the client is gone

    async def scenario(port: int) -> str:
        _, writer = await connect("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.05)
        writer.close()
        return await asyncio.wait_for(seen.get(), 5)
    assert serve(app, scenario) == "http.disconnect"


def test_an_unread_body_closes_the_connection_after_the_response() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\npartial")
        _, headers, body = await read_response(reader)
        assert body == HELLO
        # said in the response, so a client never sends its next request on a connection about to close
        assert headers.get(b"connection") == b"close"
        assert await closed(reader)
    serve(hello, scenario)


def test_scope() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await hello(scope, receive, send)

    async def scenario(port: int) -> int:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nHost: h\r\nX-Two: 1\r\nx-two: 2\r\n\r\n")
        await read_response(reader)
        writer.close()
        return port
    port = serve(app, scenario)
    scope = scopes[0]
    assert (scope["type"], scope["method"], scope["http_version"], scope["scheme"]) == ("http", "GET", "1.1", "http")
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/a b/c", b"/a%20b/c", b"x=1&y=%2F")
    assert scope["headers"] == [(b"host", b"h"), (b"x-two", b"1"), (b"x-two", b"2")]
    assert scope["client"][0] == "127.0.0.1" and scope["server"] == ("127.0.0.1", port)
    assert "extensions" not in scope


async def tunnel_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept an upgrade to ``echo`` and send back each piece the client sends, upper-cased; refuse others."""
    upgrade = dict(scope["headers"]).get(b"upgrade")
    assert "hearth.tunnel" in scope["extensions"]
    if upgrade != b"echo":
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"no such protocol"})
        return
    await send({"type": "http.response.start", "status": 101,
                "headers": [(b"connection", b"upgrade"), (b"upgrade", b"echo")]})
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if message["body"] == b"bye":
            await send({"type": "http.response.body", "body": b"BYE", "more_body": False})
            return
        await send({"type": "http.response.body", "body": message["body"].upper(), "more_body": True})


def test_a_101_answer_turns_the_connection_into_a_byte_tunnel() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET /t HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n") and b"upgrade: echo" in head
        assert b"content-length" not in head and b"transfer-encoding" not in head
        assert await reader.readexactly(5) == b"EARLY"  # bytes sent right behind the head belong to the tunnel
        writer.write(b"GET / HTTP/1.1\r\n\r\n")  # no longer HTTP: passed through as bytes
        assert await reader.readexactly(18) == b"GET / HTTP/1.1\r\n\r\n".upper()
        writer.write(b"bye")
        assert await reader.readexactly(3) == b"BYE"
        assert await closed(reader)
    serve(tunnel_app, scenario)


def test_a_refused_upgrade_is_an_ordinary_response_then_a_close() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET /t HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        status, headers, body = await read_response(reader)
        assert status.startswith(b"HTTP/1.1 400") and body == b"no such protocol"
        assert await closed(reader)
    serve(tunnel_app, scenario)


def test_idle_keep_alive_connections_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_server, "KEEP_ALIVE_S", 0.2)
    monkeypatch.setattr(http_server, "SWEEP_S", 0.05)

    async def scenario(port: int) -> None:
        reader, writer = await connect("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await read_response(reader)
        assert await closed(reader)
    serve(hello, scenario)


def test_shutdown_lets_a_request_in_flight_finish() -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.2)
        await hello(scope, receive, send)

    async def main() -> bytes:
        server = HttpServer(slow)
        sock = socket.create_server(("127.0.0.1", 0))
        await server.start(sock)
        reader, writer = await connect("127.0.0.1", sock.getsockname()[1])
        idle_reader, _ = await connect("127.0.0.1", sock.getsockname()[1])
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.05)
        stopping = asyncio.create_task(server.shutdown(grace_s=5))
        assert await closed(idle_reader)
        _, headers, body = await read_response(reader)
        await stopping
        await close_clients()
        assert headers[b"connection"] == b"close"
        return body
    assert asyncio.run(main()) == HELLO


async def flood(scope: Scope, receive: Receive, send: Send) -> None:
    """Stream up to 256 MiB (far more than socket buffers hold), then report what ``receive`` says."""
    await receive()  # the (empty) request body
    await send({"type": "http.response.start", "status": 200, "headers": []})
    chunk = b"x" * 65536
    for _ in range(4096):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    scope["state"]["ends"].put_nowait((await receive())["type"])


async def whole(scope: Scope, receive: Receive, send: Send) -> None:
    """A 32 MiB response in one message, as a static file is sent: the application is done at once."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"x" * (32 * 1024 * 1024)})


async def stalled_client(port: int, path: bytes) -> socket.socket:
    """A client with a small receive buffer that asks for ``path`` and never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window stays small
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, b"GET %b HTTP/1.1\r\nHost: a\r\n\r\n" % path)
    return sock


async def cut_off(sock: socket.socket) -> bool:
    """Read what the server had sent; True when the connection then ends (EOF or reset) within 10 s."""
    loop = asyncio.get_running_loop()

    async def drain() -> None:
        while await loop.sock_recv(sock, 1 << 20):
            pass
    try:
        await asyncio.wait_for(drain(), 10)
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    finally:
        sock.close()
    return True


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Wait until ``condition()`` holds, looking every 20 ms, at most ``timeout_s``."""
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
@pytest.mark.parametrize(("app", "path"), [(flood, b"/flood"), (whole, b"/whole")], ids=["streamed", "whole"])
def test_a_client_that_stops_reading_is_cut_off_and_others_are_served(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, run: Callable[[Any], Any], app: App,
        path: bytes) -> None:
    monkeypatch.setattr(http_server, "SWEEP_S", 0.05)
    ends: asyncio.Queue[str] | None = None

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != path.decode():
            await hello(scope, receive, send)
            return
        scope["state"] = {"ends": ends}
        await app(scope, receive, send)

    async def main() -> str:
        nonlocal ends
        ends = asyncio.Queue()
        server = HttpServer(routed, write_timeout_s=0.5)
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        await server.start(listener)
        try:
            stalled = await stalled_client(port, path)
            peer = f"127.0.0.1:{stalled.getsockname()[1]}"
            await until(lambda: any(connection.writing_paused for connection in server.connections),
                        "the server's writes to wait for the client")
            (waiting,) = server.connections
            reader, writer = await connect("127.0.0.1", port)  # another client meanwhile: answered at once
            writer.write(b"GET / HTTP/1.1\r\n\r\n")
            assert (await read_response(reader))[2] == HELLO
            await until(lambda: waiting not in server.connections, "the stalled connection to be aborted")
            if app is flood:
                assert await asyncio.wait_for(ends.get(), 10) == "http.disconnect"  # the application saw it end
            assert await cut_off(stalled)  # (read only now: reading would have let the response move)
            writer.write(b"GET / HTTP/1.1\r\n\r\n")  # and after
            assert (await read_response(reader))[2] == HELLO
            return peer
        finally:
            await close_clients()
            await server.shutdown(grace_s=1)

    with caplog.at_level(logging.WARNING, logger="hearth.http"):
        peer = run(main())
    warnings = [record.getMessage() for record in caplog.records if record.name == "hearth.http"]
    assert len(warnings) == 1 and peer in warnings[0] and "made no progress" in warnings[0], warnings


class DrainingTransport:
    """A transport whose unsent bytes are set by the test; records an abort."""

    def __init__(self) -> None:
        self.unsent = 1_000_000
        self.aborted = False

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def abort(self) -> None:
        self.aborted = True


def test_a_slow_reader_is_not_cut_off_while_its_response_moves() -> None:
    async def main() -> DrainingTransport:
        connection = http_server._Connection(HttpServer(hello))
        transport = DrainingTransport()
        connection.transport = transport  # type: ignore[assignment]
        connection.pause_writing()
        start = connection.stalled_since
        for second in range(1, 31):  # 30 s of a few bytes leaving per sweep, against a 5 s limit
            transport.unsent -= 100
            connection.abort_if_stalled(start + second, 5.0)
            assert not transport.aborted, second
        connection.abort_if_stalled(start + 34.9, 5.0)  # then nothing leaves...
        assert not transport.aborted
        connection.abort_if_stalled(start + 35.0, 5.0)  # ... for 5 s
        assert transport.aborted and connection.closing
        return transport
    asyncio.run(main())


class RecordingTransport:
    """What a connection writes, one entry per ``write`` call."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.mark.parametrize(("app", "writes"), [
    (hello, 1),  # head and body together
    (streamed, 3),  # head with the first piece, the second piece, the last chunk
])
def test_a_response_leaves_in_as_few_writes_as_its_messages_allow(app: App, writes: int) -> None:
    async def main() -> list[bytes]:
        transport = RecordingTransport()
        connection = http_server._Connection(HttpServer(app))
        connection.connection_made(transport)  # type: ignore[arg-type]
        connection.data_received(b"GET / HTTP/1.1\r\n\r\n")
        for _ in range(10):
            await asyncio.sleep(0)
        return transport.writes
    assert len(asyncio.run(main())) == writes


def test_a_body_that_stops_moving_closes_the_connection_and_is_never_passed_on_cut_short() -> None:
    outcomes: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(scope, receive, 1000)
        except errors.InvalidRequestContent as exc:
            outcomes.append(exc.message)
            return
        outcomes.append(f"read {len(body)} bytes")
        await hello(scope, receive, send)

    async def scenario(port: int) -> float:
        reader, writer = await connect("127.0.0.1", port)
        started = asyncio.get_running_loop().time()
        writer.write(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)  # then nothing more
        line, _, body = await read_response(reader)
        assert line.split(b" ")[1] == b"408" and body == b"Request body not received in time"
        assert await closed(reader)
        return asyncio.get_running_loop().time() - started
    elapsed = serve(app, scenario, body_timeout_s=0.5)
    assert 0.5 <= elapsed < 3.5
    assert outcomes == ["The client closed the connection before sending the whole body; send it again"]
