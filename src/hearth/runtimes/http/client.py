"""The HTTP/1.1 client the ``http`` runtime uses to reach one server on loopback: asyncio + httptools.

One ``Connection`` carries one exchange at a time (no pipelining); a ``ConnectionPool`` per server keeps the
idle ones for reuse (keep-alive). Bodies stream both ways with bounded memory: the caller writes the request in
pieces and waits for ``drain()`` when the socket's buffer is full; response bytes are queued until the caller
reads them, and reading from the socket pauses while more than ``HIGH_WATER`` bytes wait. Response bodies may be
delimited by ``Content-Length``, by chunked encoding or by the end of the connection.

A request's head and (when it is small) its body leave in one ``write``: an HTTP message written in two
``send()`` calls can wait ~40 ms on loopback for the peer's delayed ACK (Nagle), and every connection sets
``TCP_NODELAY`` for the same reason.

The proxy is on the path of every request, so the common case costs no wait that is not needed: an idle
connection is taken without one (``reuse``), and the response's head and body are looked at where they are
(``head_arrived``, ``take``) before a future is made to wait for them (``wait``); a small response that arrives
in one piece costs one wait in all.
"""

from __future__ import annotations

import asyncio
import collections
import socket

import httptools

HIGH_WATER = 256 * 1024  # response bytes queued before reading from the server pauses
LOW_WATER = 64 * 1024
Headers = list[tuple[bytes, bytes]]
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
                        b"proxy-connection", b"proxy-authenticate", b"proxy-authorization"})
_NOTED = HOP_BY_HOP | {b"content-length"}  # response headers ``on_header`` looks at more closely
PLAIN_CONNECTION = frozenset({b"keep-alive", b"close", b"Keep-Alive", b"Close"})  # name no other header


class BackendError(Exception):
    """The connection failed, closed early or carried a response that cannot be parsed."""


class Connection(asyncio.Protocol):
    """One TCP connection to the server; see the module docstring.

    An exchange is ``begin``, ``write`` (the head, then any body), then the response: ``status`` is set once its
    head arrived, and ``take`` hands over the body bytes queued so far. ``wait`` gives a future that is done at
    the next step (head, body bytes, end, failure); ``response_head`` and ``read`` are the same as coroutines.
    ``headers`` are the response's end-to-end headers, names lower-case: the hop-by-hop ones (RFC 9110 §7.6.1,
    and those its ``Connection`` names) concern this connection only and are left out as they are parsed.
    """

    def __init__(self, pool: ConnectionPool | None = None) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0  # of the current response, once its head arrived
        self.headers: Headers = []
        self.reusable = False  # set when a whole response arrived and the server keeps the connection open
        self.timed_out = False
        self.received = False  # any byte of the current response arrived (a retry is no longer safe)
        self._loop = asyncio.get_running_loop()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._complete = False
        self._error: BackendError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._framed = False  # Content-Length or chunked; otherwise the body ends with the connection
        self._informational = False
        self._no_body = False
        self._named: list[bytes] = []  # the values of a Connection header that names other headers

    # -- the caller's side -------------------------------------------------------------------------------------

    def begin(self, head_request: bool = False) -> None:
        """Prepare for the next exchange (``head_request``: a HEAD, whose response has no body)."""
        self.status = 0
        self.reusable = False
        self.received = False
        self._complete = False
        self._no_body = head_request

    def write(self, data: bytes | bytearray | memoryview) -> None:
        transport = self.transport
        if transport is None or self._error is not None:
            raise self._error or BackendError("the connection to the server is closed")
        transport.write(data)

    async def drain(self) -> None:
        """Wait until the socket accepts more of the request body."""
        if self._drain is not None:
            await self._drain
        if self._error is not None:
            raise self._error

    @property
    def writing_paused(self) -> bool:
        return self._drain is not None

    def wait(self) -> asyncio.Future[None]:
        """A future done at the exchange's next step: the response head, body bytes, its end or a failure."""
        waiter = self._waiter = self._loop.create_future()
        return waiter

    def head_arrived(self) -> bool:
        """Whether the response's status and headers are in; raises ``BackendError`` when they never will be."""
        if self.status:
            return True
        if self._error is not None:
            raise self._error
        return False

    async def response_head(self) -> tuple[int, Headers]:
        """Wait for the response's status and headers; raises ``BackendError``."""
        while not self.head_arrived():
            await self.wait()
        return self.status, self.headers

    def take(self) -> tuple[bytes, bool] | None:
        """The body bytes queued (all of them at once) and whether more follow, or None when there are none yet;
        raises ``BackendError`` once the queue is empty and the connection failed."""
        chunks = self._chunks
        if not chunks:
            if self._complete:
                return b"", False
            if self._error is not None:
                raise self._error
            return None
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data, not self._complete

    async def read(self) -> tuple[bytes, bool]:
        """The next body bytes queued (all of them at once) and whether more follow; raises ``BackendError``."""
        while True:
            taken = self.take()
            if taken is not None:
                return taken
            await self.wait()

    def expire(self) -> None:
        """The request's deadline passed: give up on it (``DeadlineSweep`` calls this)."""
        self.timed_out = True
        self._fail(BackendError("the request timed out"))
        self.abort()

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BackendError(f"the server sent a malformed response: {exc}"))
            self.abort()

    def eof_received(self) -> bool | None:
        if self.status and not self._complete and not self._framed:
            self._finish()  # a close-delimited body ends here
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.reusable = False
        if self.pool is not None:
            self.pool.forget(self)
        if self.status and not self._complete and not self._framed and self._error is None:
            self._finish()
        elif not self._complete:
            self._fail(BackendError("the server closed the connection" + (f": {exc}" if exc else "")))
        drain = self._drain
        if drain is not None and not drain.done():
            self._drain = None
            drain.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = self._loop.create_future()

    def resume_writing(self) -> None:
        drain = self._drain
        self._drain = None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- httptools callbacks -----------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.headers = []
        self._framed = False
        if self._named:
            self._named = []

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in _NOTED:
            if name == b"content-length":
                self._framed = True
            else:  # hop-by-hop: noted, not kept
                if name == b"transfer-encoding":
                    self._framed = self._framed or b"chunked" in value.lower()
                elif name == b"connection" and value not in PLAIN_CONNECTION:
                    self._named.append(value)
                return
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim response (103 Early Hints): the real one follows
            self._informational = True
            return
        if self._named:
            named = connection_tokens(b",".join(self._named))
            self.headers = [(name, value) for name, value in self.headers if name not in named]
        self.status = status
        if self._no_body:
            self._finish()
            self.close()  # the parser would wait for a body a HEAD response does not have: never reuse it
        else:
            self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if not self._no_body:
            self.reusable = self.parser.should_keep_alive()
            self._finish()

    # -- internals ---------------------------------------------------------------------------------------------

    def _finish(self) -> None:
        self._complete = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: BackendError) -> None:
        if self._error is None:
            self._error = error
        self._wake()
        drain = self._drain
        if drain is not None and not drain.done():
            self._drain = None
            drain.set_result(None)


class ConnectionPool:
    """Keep-alive connections to one server at ``host:port``: idle ones are reused, most recently used first."""

    def __init__(self, port: int, host: str = "127.0.0.1", max_idle: int = 100) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.idle: list[Connection] = []
        self.opened = 0  # connections opened in all, for the tests
        self.closed = False

    async def acquire(self) -> tuple[Connection, bool]:
        """An idle connection, or a new one; the flag says whether it was reused. Raises ``OSError``."""
        connection = self.reuse()
        if connection is not None:
            return connection, True
        return await self.connect(), False

    def reuse(self) -> Connection | None:
        """The most recently used idle connection that is still open, if any (no wait)."""
        idle = self.idle
        while idle:
            connection = idle.pop()
            transport = connection.transport
            if transport is not None and not transport.is_closing():
                return connection
        return None

    async def connect(self) -> Connection:
        """A new connection; raises ``OSError``."""
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: Connection(self), self.host, self.port)
        self.opened += 1
        return connection

    def release(self, connection: Connection) -> None:
        """Take a connection back after its exchange: kept when the response allows it, closed otherwise."""
        if connection.reusable and not self.closed and connection.transport is not None \
                and len(self.idle) < self.max_idle:
            self.idle.append(connection)
        else:
            connection.close()

    def forget(self, connection: Connection) -> None:
        """The server closed ``connection`` (an idle keep-alive timeout, or it exited)."""
        try:
            self.idle.remove(connection)
        except ValueError:
            pass

    def close(self) -> None:
        self.closed = True
        for connection in self.idle:
            connection.close()
        self.idle.clear()


def connection_tokens(value: bytes) -> set[bytes]:
    """The header names (lower-case) a ``Connection`` header's value lists."""
    return {token.strip().lower() for token in value.split(b",") if token.strip()}


def encode_chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


async def get_status(port: int, path: str, timeout_s: float, host: str = "127.0.0.1") -> int | None:
    """GET ``path`` on a fresh connection and return the status, or None if nothing answers within ``timeout_s``
    (refused, closed, malformed or slow)."""
    loop = asyncio.get_running_loop()
    connection: Connection | None = None
    try:
        async with asyncio.timeout(timeout_s):
            _, connection = await loop.create_connection(Connection, host, port)
            connection.begin(head_request=True)  # read the status line only, then close
            connection.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            status, _ = await connection.response_head()
            return status
    except (OSError, BackendError, TimeoutError):
        return None
    finally:
        if connection is not None:
            connection.abort()
