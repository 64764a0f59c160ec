"""Hearth's HTTP/1.1 server: asyncio + httptools, running raw-ASGI applications (``http`` scopes).

Both surfaces (gateway and control API) run on it. It exists because the server under the gateway is on the
path of every request: uvicorn's httptools protocol cost about half of the gateway's CPU per proxied request.
This one keeps only what the two applications use, and does it in fewer steps:

- One ``asyncio.Protocol`` per connection, one parser, one task per request. A request whose body is already in
  hand when the application asks for it costs no wait; a longer one streams (``more_body``), with reading paused
  while more than ``HIGH_WATER`` bytes wait, and ``100 Continue`` sent when the application first asks for a body
  the client is holding back.
- Each response leaves in as few writes as its messages allow: the head waits for the first body message and goes
  out with it. A whole response (one body message without ``Content-Length``) gets its length; a streamed one is
  chunked (HTTP/1.1) or ends with the connection (HTTP/1.0). ``HEAD`` and 1xx/204/304 responses carry no body.
  Writes wait for the socket to drain when its buffer is full; a response that makes no progress for
  ``WRITE_TIMEOUT_S`` (the client stopped reading) has its connection aborted, and the application sees the
  disconnect.
- Keep-alive as HTTP/1.1 says (``Connection: close`` and HTTP/1.0 respected); pipelined requests are answered
  in order, one at a time. Idle connections are closed after ``KEEP_ALIVE_S`` by a once-a-second sweep (no timer
  per request); the same sweep finds the stalled writes. A request whose body was not read to its end closes its
  connection after the response.
- Failures stay on their connection: a request that cannot be parsed gets 400 (431 for a head over
  ``MAX_HEAD_BYTES``, 414 for a target over ``MAX_URL_BYTES``, 408 for a head still incomplete ``HEAD_TIMEOUT_S``
  after its first byte: a client that sends its head a byte at a time cannot hold a connection open) and a
  close; a request body the application is waiting for that moves no byte for ``BODY_TIMEOUT_S`` (nginx's
  ``client_body_timeout``) gets 408 and a close, the application seeing a disconnect; an application that raises
  before responding gets a plain 500, after starting a cut-off response.
- **Tunnels**: the scope of a request that asks for a protocol upgrade carries the extension ``hearth.tunnel``.
  An application that answers it with status 101 turns the connection into a byte tunnel: the client's bytes
  arrive as ``http.request`` messages (``more_body`` true until the client closes), and ``http.response.body``
  messages are written as they are, unframed, the last one (``more_body`` false) closing the connection. Any
  other status refuses the upgrade: the response is sent and the connection closed. (The gateway proxies
  WebSockets this way, frames untouched.)
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote

import httptools

from hearth.asgi import Message, Scope

log = logging.getLogger("hearth.http")
App = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

HIGH_WATER = 256 * 1024  # request-body bytes waiting for the application before reading pauses
MAX_HEAD_BYTES = 64 * 1024  # request line and headers; more is answered 431
MAX_URL_BYTES = 16 * 1024  # the request target alone; more is answered 414
HEAD_TIMEOUT_S = 10.0  # a request head not complete this long after its first byte is answered 408 (slowloris)
BODY_TIMEOUT_S = 30.0  # a body the application waits for that moves no byte this long closes the connection
KEEP_ALIVE_S = 5.0  # an idle keep-alive connection is closed after this long (uvicorn's default too)
WRITE_TIMEOUT_S = 60.0  # a response write that moves no byte this long aborts its connection (nginx: send_timeout)
LINGER_S = 2.0  # after answering before the request's body was all in, unread bytes are dropped this long at most
LINGER_BYTES = 8 * 1024 * 1024  # ... and this many (nginx: lingering_close, lingering_time)
SWEEP_S = 1.0
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})
_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in HTTPStatus}
_DISCONNECT: Message = {"type": "http.disconnect"}
_TUNNEL_EXTENSIONS: dict[str, dict[str, object]] = {"hearth.tunnel": {}}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} \r\n".encode()


def _plain_response(status: int, message: str) -> bytes:
    body = message.encode()
    return (status_line(status) + b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class HttpServer:
    """Serves one ASGI application on listening sockets until ``shutdown``; a connection whose response cannot be
    written for ``write_timeout_s`` is aborted."""

    def __init__(self, app: App, write_timeout_s: float = WRITE_TIMEOUT_S,
                 head_timeout_s: float = HEAD_TIMEOUT_S, body_timeout_s: float = BODY_TIMEOUT_S) -> None:
        self.app = app
        self.write_timeout_s = write_timeout_s
        self.head_timeout_s = head_timeout_s
        self.body_timeout_s = body_timeout_s
        self.connections: set[_Connection] = set()
        self._servers: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, sock: socket.socket, backlog: int = 2048) -> None:
        """Serve on ``sock`` (already listening: asyncio listens again, with ``backlog``)."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self), sock=sock, backlog=backlog)
        self._servers.append(server)
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop accepting, close idle connections, give requests in flight ``grace_s`` to finish, close the rest."""
        for server in self._servers:
            server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self.connections):
            connection.close_when_idle()
        deadline = time.monotonic() + grace_s
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.abort()
        for server in self._servers:
            await server.wait_closed()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            now = time.monotonic()
            idle_since = now - KEEP_ALIVE_S
            head_since = now - self.head_timeout_s
            for connection in list(self.connections):
                connection.close_if_idle_since(idle_since)
                connection.fail_if_head_started_before(head_since)
                if connection.parsing is not None:
                    connection.close_if_body_stalled(now, self.body_timeout_s)
                if connection.writing_paused:
                    connection.abort_if_stalled(now, self.write_timeout_s)


class _Cycle:
    """One request and its response: the ``receive`` and ``send`` the application is given."""

    __slots__ = ("connection", "scope", "chunks", "buffered", "received", "complete", "delivered", "waiter",
                 "expect_continue", "status", "headers", "started", "finished", "chunked", "head_request", "no_body",
                 "keep_alive", "tunnel", "disconnected")

    def __init__(self, connection: _Connection, scope: Scope, keep_alive: bool, expect_continue: bool) -> None:
        self.connection = connection
        self.scope = scope
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.received = 0  # body bytes so far (the sweep watches it move)
        self.complete = False  # the whole request body arrived
        self.delivered = False  # ... and went to the application
        self.waiter: asyncio.Future[None] | None = None
        self.expect_continue = expect_continue
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] | None = None  # held back until the first body message
        self.started = False
        self.finished = False
        self.chunked = False
        self.head_request = scope["method"] == "HEAD"
        self.no_body = self.head_request
        self.keep_alive = keep_alive
        self.tunnel = False
        self.disconnected = False

    # -- the connection's side ---------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        self.received += len(data)
        if self.buffered > HIGH_WATER:
            self.connection.pause_reading()
        self._wake()

    def end(self) -> None:
        self.complete = True
        self._wake()

    def disconnect(self) -> None:
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- the application's side --------------------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next piece of the request body; then, once the client is gone or the response sent, a
        disconnect."""
        while True:
            if self.chunks:
                body = b"".join(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
                self.chunks.clear()
                self.buffered = 0
                self.connection.resume_reading()
                more = self.tunnel or not self.complete
                self.delivered = not more
                return {"type": "http.request", "body": body, "more_body": more}
            if self.disconnected or self.finished:
                return _DISCONNECT
            if self.complete and not self.delivered and not self.tunnel:
                self.delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.expect_continue and not self.started:
                self.expect_continue = False
                self.connection.write(_CONTINUE)
            waiter = self.waiter = self.connection.loop.create_future()
            await waiter

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("the response has already started")
            self.started = True
            self.status = message["status"]
            self.headers = list(message.get("headers") or ())
            if self.status == 101 and "extensions" in self.scope and not self.disconnected:
                self.tunnel = True
                self.connection.write(self._head(b"", True))
                self.connection.start_tunnel(self)
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if not self.started or self.finished:
            raise RuntimeError("a response body message outside a response")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.headers is not None:
            data = self._head(body, more)
        elif self.no_body or not body:
            data = b""
        elif self.chunked:
            data = b"%x\r\n%b\r\n" % (len(body), body)
        else:
            data = body
        if not more:
            self.finished = True
            if self.chunked:
                data += b"0\r\n\r\n"
        if self.disconnected:
            return
        if data:
            self.connection.write(data)
        if self.finished:
            self.connection.response_complete(self)
        elif self.connection.writing_paused:
            await self.connection.drained()

    def _head(self, body: bytes, more: bool) -> bytes:
        """The response head, with the first body bytes when it has any."""
        status, headers = self.status, self.headers or ()
        self.headers = None
        parts = [status_line(status)]
        length = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = True
            elif lowered == b"transfer-encoding":
                continue  # the server frames the body itself
            elif lowered == b"connection" and value.lower() == b"close":
                self.keep_alive = False
            parts += (name, b": ", value, b"\r\n")
        if self.tunnel:
            pass  # the bytes that follow are the other protocol's
        elif status < 200 or status in _NO_BODY_STATUSES:
            self.no_body = True
        elif not length and not self.head_request:
            if not more:
                parts += (b"content-length: ", str(len(body)).encode(), b"\r\n")
            elif self.scope["http_version"] == "1.1":
                self.chunked = True
                parts.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False  # HTTP/1.0: the body ends with the connection
        if self.connection.closing:
            self.keep_alive = False  # shutting down: say so to the client
        elif self.connection.parsing is self:
            # answered before its body was all read: the connection closes after this response (the rest of the
            # body cannot be parsed in step), so say so, or the client sends its next request into the close
            self.keep_alive = False
        if not self.keep_alive and not self.tunnel:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if self.no_body or not body:
            return b"".join(parts)
        if self.chunked:
            parts.append(b"%x\r\n%b\r\n" % (len(body), body))
        else:
            parts.append(body)
        return b"".join(parts)


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, runs one cycle at a time, writes responses."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None
        self.cycle: _Cycle | None = None  # the request being answered
        self.parsing: _Cycle | None = None  # the request being parsed (a later one when pipelined)
        self.pipeline: collections.deque[_Cycle] = collections.deque()
        self.writing_paused = False
        self.stalled_since = 0.0  # when writing paused, or the unsent bytes last went down while it stayed paused
        self._unsent = 0  # the transport's unsent bytes when the sweep last looked
        self.reading_paused = False
        self.idle_since = time.monotonic()
        self._drain: asyncio.Future[None] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self.head_started = 0.0  # when the head being parsed began (0.0: none is)
        self._body_seen = -1  # the parsing cycle's ``received`` when the sweep last saw it move
        self._body_since = 0.0
        self.closing = False
        self._upgrading: _Cycle | None = None  # an upgrade request, until its application answers
        self._tunnel: _Cycle | None = None
        self._lingering: int | None = None  # bytes still to drop while closing (``_linger``); None: not lingering
        self._linger_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self.local = (str(local[0]), int(local[1])) if isinstance(local, tuple) else None
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:  # the rest of a body the answer did not wait for: dropped
            self._lingering -= len(data)
            if self._lingering <= 0:
                self._close()
            return
        tunnel = self._tunnel
        if tunnel is not None:
            tunnel.feed(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgraded(data[upgrade.args[0]:] if upgrade.args else b"")
        except httptools.HttpParserError as error:  # (a callback's exception arrives wrapped in one)
            if len(self._url) > MAX_URL_BYTES:
                self._fail(414, f"URI too long (over {MAX_URL_BYTES} bytes)")
            elif self._head_bytes > MAX_HEAD_BYTES:
                self._fail(431, f"Request header fields too large (over {MAX_HEAD_BYTES} bytes)")
            else:
                self._fail(400, f"Invalid HTTP request: {error}")

    def eof_received(self) -> bool | None:
        return None  # close the connection; a cycle in flight sees the disconnect

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = True
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        for cycle in (self.cycle, self._tunnel, *self.pipeline):
            if cycle is not None:
                cycle.disconnect()
        self.pipeline.clear()
        self._wake_drain()

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.stalled_since = time.monotonic()
        self._unsent = self.transport.get_write_buffer_size() if self.transport is not None else 0

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_drain()

    # -- httptools callbacks -----------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self.head_started = time.monotonic()
        self.idle_since = 0.0  # busy

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise ValueError("request target too long")
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._count(len(name) + len(value))

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise ValueError("request head too large")

    def on_headers_complete(self) -> None:
        self.head_started = 0.0
        parser = self.parser
        url = httptools.parse_url(self._url)
        raw_path = url.path
        http_version = parser.get_http_version()
        headers = self._headers
        scope: Scope = {
            "type": "http", "asgi": _ASGI, "http_version": http_version, "scheme": "http",
            "method": parser.get_method().decode("ascii"),
            "path": unquote(raw_path.decode("ascii", "replace")) if b"%" in raw_path else raw_path.decode("ascii",
                                                                                                         "replace"),
            "raw_path": raw_path, "query_string": url.query or b"", "root_path": "", "headers": headers,
            "client": self.client, "server": self.local,
        }
        expect_continue = False
        upgrade = parser.should_upgrade()
        if upgrade:
            scope["extensions"] = _TUNNEL_EXTENSIONS
        elif http_version == "1.1":
            for name, value in headers:
                if name == b"expect" and value.lower() == b"100-continue":
                    expect_continue = True
        cycle = _Cycle(self, scope, parser.should_keep_alive() and not upgrade, expect_continue)
        self.parsing = cycle
        if upgrade:
            self._upgrading = cycle
        if self.cycle is None:
            self._run(cycle)
        else:  # pipelined behind the request being answered: wait, and stop reading more meanwhile
            self.pipeline.append(cycle)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        if self.parsing is not None:
            self.parsing.feed(body)

    def on_message_complete(self) -> None:
        if self.parsing is not None:
            self.parsing.end()
            self.parsing = None

    # -- cycles --------------------------------------------------------------------------------------------------

    def _run(self, cycle: _Cycle) -> None:
        self.cycle = cycle
        self.loop.create_task(self._call(cycle))

    async def _call(self, cycle: _Cycle) -> None:
        try:
            await self.server.app(cycle.scope, cycle.receive, cycle.send)
        except Exception:
            log.exception("the application failed on %s %s", cycle.scope["method"], cycle.scope["path"])
            if not cycle.started and not cycle.disconnected:
                self.write(_plain_response(500, "Internal Server Error"))
            self._close()
            return
        if not cycle.finished:  # returned mid-response (cut off) or without one
            if not cycle.started and not cycle.disconnected:
                log.error("the application returned no response to %s %s", cycle.scope["method"],
                          cycle.scope["path"])
                self.write(_plain_response(500, "Internal Server Error"))
            self._close()

    def response_complete(self, cycle: _Cycle) -> None:
        if cycle.tunnel:
            self._close()
            return
        if self.parsing is cycle and not self.closing:
            self._linger()  # a request body not all received: the rest of the stream cannot be parsed in step
            return
        if not cycle.keep_alive or self.closing:
            self._close()
            return
        self.cycle = None
        if self.pipeline:
            self._run(self.pipeline.popleft())
            if not self.pipeline:
                self.resume_reading()
        else:
            self.idle_since = time.monotonic()

    def _upgraded(self, rest: bytes) -> None:
        """The parser stopped at an upgrade request's head: what follows belongs to the tunnel, if any."""
        cycle = self._upgrading
        if cycle is None:
            self._close()
            return
        self._upgrading = self.parsing = None
        cycle.complete = True
        if rest:
            cycle.chunks.append(rest)
            cycle.buffered += len(rest)
        self._tunnel = cycle
        self.pause_reading()  # until the application accepts (101) or refuses the upgrade

    def start_tunnel(self, cycle: _Cycle) -> None:
        """The application accepted the upgrade: from now on the client's bytes are the tunnel's."""
        cycle.complete = False
        self._tunnel = cycle
        self.resume_reading()

    # -- transport helpers ---------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def drained(self) -> None:
        if self.writing_paused and not self.closing:
            self._drain = self.loop.create_future()
            await self._drain

    def _wake_drain(self) -> None:
        drain = self._drain
        if drain is not None:
            self._drain = None
            if not drain.done():
                drain.set_result(None)

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.pipeline:
            self.reading_paused = False
            self.transport.resume_reading()

    def _fail(self, status: int, message: str) -> None:
        if self.cycle is None or self.cycle.finished:
            self.write(_plain_response(status, message))
        self._close()

    def _linger(self) -> None:
        """Close after answering a request whose body has not all arrived (a 413 from its Content-Length or its
        count): send FIN, then read and drop what the client still sends, for at most ``LINGER_S`` and
        ``LINGER_BYTES``. Closing at once with unread bytes would send a reset, and a client still sending its body
        could lose the answer to it (nginx's lingering close)."""
        transport = self.transport
        if transport is None or transport.is_closing() or not transport.can_write_eof():
            self._close()
            return
        self.closing = True
        self.parsing = None
        self._lingering = LINGER_BYTES
        transport.write_eof()  # after the answer, which is already in the transport's buffer
        self.reading_paused = False
        transport.resume_reading()
        self._linger_timer = self.loop.call_later(LINGER_S, self._close)

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def close_when_idle(self) -> None:
        self.closing = True
        if self.cycle is None:
            self._close()

    def close_if_idle_since(self, moment: float) -> None:
        if self.cycle is None and 0.0 < self.idle_since < moment:
            self._close()

    def fail_if_head_started_before(self, moment: float) -> None:
        """Answer 408 and close when the head being parsed began before ``moment`` (a slow or stuck client)."""
        if 0.0 < self.head_started < moment and not self.closing:
            self.head_started = 0.0
            self._fail(408, "Request head not received in time; send the whole request line and headers at once")

    def close_if_body_stalled(self, now: float, limit_s: float) -> None:
        """Close the connection when the body the application waits for has moved no byte for ``limit_s``."""
        cycle = self.parsing
        if (cycle is None or cycle.complete or cycle.tunnel or cycle.waiter is None or self.reading_paused
                or self.closing):
            self._body_seen = -1  # not waiting on the client: nothing to time
            return
        if cycle.received != self._body_seen:
            self._body_seen = cycle.received
            self._body_since = now
            return
        if now - self._body_since < limit_s:
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client is not None else "an unknown peer"
        log.warning("closed the connection from %s: its request body moved no byte for %.0f s (%d bytes received)",
                    peer, now - self._body_since, cycle.received)
        cycle.disconnect()  # the application sees the client gone, and what it sends after is dropped
        if not cycle.started:
            self.write(_plain_response(408, "Request body not received in time"))
        self._close()

    def abort_if_stalled(self, now: float, limit_s: float) -> None:
        """Abort the connection when its paused writes have not moved for ``limit_s``: the client stopped reading
        (a full buffer would otherwise hold the response, and a ``transport.close()`` waiting on it, forever)."""
        transport = self.transport
        if transport is None:
            return
        unsent = transport.get_write_buffer_size()
        if unsent < self._unsent:  # some bytes left since the last look: a slow reader, not a stalled one
            self.stalled_since = now
        self._unsent = unsent
        if now - self.stalled_since < limit_s:
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client is not None else "an unknown peer"
        log.warning("closed the connection from %s: its response made no progress for %.0f s (%d bytes unsent; "
                    "the client stopped reading)", peer, now - self.stalled_since, unsent)
        self.closing = True
        self.writing_paused = False  # the transport is gone: nothing waits to write, and the sweep looks no more
        transport.abort()  # connection_lost follows: the application's send returns, its receive sees the disconnect

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
