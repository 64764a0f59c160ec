"""The ``http`` runtime's HTTP/1.1 client and header rules, against a scripted server on loopback (port 0)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hearth.runtimes.http.client import HIGH_WATER, BackendError, ConnectionPool, encode_chunk, get_status
from hearth.runtimes.http.proxy import request_head, response_headers

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def run(handler: Handler, scenario: Callable[[ConnectionPool], Awaitable[Any]]) -> Any:
    """Serve ``handler`` on a free loopback port and run ``scenario`` with a pool to it."""
    async def main() -> Any:
        handlers: set[asyncio.Task[None]] = set()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handlers.add(asyncio.current_task())  # type: ignore[arg-type]
            try:
                await handler(reader, writer)
            finally:
                writer.close()
                await writer.wait_closed()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = ConnectionPool(port)
        try:
            return await scenario(pool)
        finally:
            pool.close()
            server.close()
            if handlers:
                await asyncio.wait(handlers, timeout=5)  # each ends once its client connection is closed
            await server.wait_closed()
    return asyncio.run(main())


async def exchange(pool: ConnectionPool, request: bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                   head: bool = False) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """One request; the status, headers, whole body and whether the connection was reused."""
    connection, reused = await pool.acquire()
    connection.begin(head)
    connection.write(request)
    status, headers = await connection.response_head()
    body = b""
    more = True
    while more:
        chunk, more = await connection.read()
        body += chunk
    pool.release(connection)
    return status, headers, body, reused


def test_content_length_body_and_keep_alive_reuse() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Thing: A\r\n\r\nhello")
        writer.close()

    async def scenario(pool: ConnectionPool) -> list[Any]:
        return [await exchange(pool) for _ in range(3)] + [pool.opened]

    *results, opened = run(handler, scenario)
    assert [(status, body) for status, _, body, _ in results] == [(200, b"hello")] * 3
    assert results[0][1] == [(b"content-length", b"5"), (b"x-thing", b"A")]  # names lower-case
    assert [reused for *_, reused in results] == [False, True, True]
    assert opened == 1


def test_chunked_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"one,", b"two,", b"three"):
            writer.write(encode_chunk(piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()  # keep the connection open: the body ends with the last chunk, not with a close
        writer.close()

    status, _, body, _ = run(handler, exchange)
    assert (status, body) == (200, b"one,two,three")


def test_close_delimited_body_and_no_reuse() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the ")
        await writer.drain()
        writer.write(b"end")
        writer.close()

    async def scenario(pool: ConnectionPool) -> tuple[Any, int]:
        result = await exchange(pool)
        return result, len(pool.idle)

    (status, _, body, _), idle = run(handler, scenario)
    assert (status, body, idle) == (200, b"until the end", 0)


def test_head_response_and_interim_responses() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        if head.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    async def scenario(pool: ConnectionPool) -> list[Any]:
        head = await exchange(pool, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", head=True)
        other = await exchange(pool)
        return [head, other]

    head, other = run(handler, scenario)
    assert (head[0], head[2]) == (200, b"")  # no body awaited for a HEAD, whatever Content-Length says
    assert (other[0], other[1], other[2]) == (204, [], b"")


def test_malformed_response_and_early_close_raise() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    for handler in (garbage, silent):
        with pytest.raises(BackendError):
            run(handler, exchange)


def test_reading_pauses_while_the_caller_does_not_read() -> None:
    total = 8 * HIGH_WATER

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        writer.write(b"x" * total)
        await writer.drain()
        writer.close()

    async def scenario(pool: ConnectionPool) -> tuple[int, int]:
        connection, _ = await pool.acquire()
        connection.begin()
        connection.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await connection.response_head()
        await asyncio.sleep(0.2)  # the server has written everything it can; nothing reads the client's side
        queued = connection._buffered
        received = 0
        more = True
        while more:
            chunk, more = await connection.read()
            received += len(chunk)
        pool.release(connection)
        return queued, received

    queued, received = run(handler, scenario)
    assert queued <= HIGH_WATER + 256 * 1024  # at most what one read after the pause brought in
    assert received == total


def test_get_status_of_nothing_listening_is_none() -> None:
    async def scenario(pool: ConnectionPool) -> tuple[int | None, int | None]:
        answered = await get_status(pool.port, "/health", 5)
        pool.port = 1  # nothing listens on a privileged port here
        return answered, await get_status(pool.port, "/health", 5)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    assert run(handler, scenario) == (302, None)


def test_request_head_rewrites_headers_as_a_reverse_proxy() -> None:
    scope = {"method": "POST", "path": "/a b", "raw_path": b"/a%20b", "query_string": b"x=1", "scheme": "http",
             "client": ("10.0.0.7", 5555), "server": ("127.0.0.1", 8080),
             "headers": [(b"host", b"example.test"), (b"connection", b"keep-alive, x-private"),
                         (b"x-private", b"1"), (b"keep-alive", b"timeout=5"), (b"te", b"trailers"),
                         (b"x-forwarded-for", b"1.2.3.4"), (b"transfer-encoding", b"chunked"),
                         (b"content-length", b"3"), (b"expect", b"100-continue"), (b"x-kept", b"yes")]}
    parts, framing = request_head(scope, "rid")
    head = b"".join(parts).decode()
    assert head == ("POST /a%20b?x=1 HTTP/1.1\r\nhost: example.test\r\nx-kept: yes\r\n"
                    "transfer-encoding: chunked\r\nx-forwarded-for: 10.0.0.7\r\nx-forwarded-proto: http\r\n"
                    "x-forwarded-host: example.test\r\nx-forwarded-port: 8080\r\nx-amzn-requestid: rid\r\n\r\n")
    assert framing == 2  # chunked: the body is re-chunked


def test_response_headers_drop_hop_by_hop_and_connection_named() -> None:
    raw = [(b"content-type", b"text/plain"), (b"connection", b"close, x-hop"), (b"x-hop", b"1"),
           (b"transfer-encoding", b"chunked"), (b"keep-alive", b"timeout=5"), (b"set-cookie", b"a=1"),
           (b"set-cookie", b"b=2"), (b"proxy-authenticate", b"Basic")]
    assert response_headers(raw) == [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"),
                                     (b"set-cookie", b"b=2")]


def test_the_connection_leaves_hop_by_hop_response_headers_out_as_it_parses() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\n"
                         b"X-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n"
                         b"Proxy-Authenticate: Basic\r\n\r\n" + encode_chunk(b"hi") + b"0\r\n\r\n")
        writer.close()

    async def scenario(pool: ConnectionPool) -> list[Any]:
        return [await exchange(pool) for _ in range(2)]

    first, second = run(handler, scenario)
    assert first[:3] == (200, [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1")], b"hi")
    assert second[1:] == first[1:3] + (True,)  # the named header is left out again; the connection was reused


def test_take_hands_over_what_arrived_without_waiting() -> None:
    body_wanted: asyncio.Queue[None] = asyncio.Queue()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
        await writer.drain()
        for piece in (b"abc", b"def"):
            await body_wanted.get()
            writer.write(piece)
            await writer.drain()
        await reader.read()
        writer.close()

    async def scenario(pool: ConnectionPool) -> list[Any]:
        connection, _ = await pool.acquire()
        connection.begin()
        assert not connection.head_arrived()
        connection.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        seen: list[Any] = [await connection.response_head(), connection.take()]  # the head, no body yet
        for _ in range(2):
            body_wanted.put_nowait(None)
            while (taken := connection.take()) is None:
                await connection.wait()
            seen.append(taken)
        seen.append(connection.reusable)
        pool.release(connection)
        return seen

    assert run(handler, scenario) == [(200, [(b"content-length", b"6")]), None, (b"abc", True), (b"def", False),
                                      True]
