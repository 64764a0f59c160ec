"""How an entry point's response leaves the instance: whole, as the invocation's result, or streamed as it is made.

The worker arms an adapter's ``Output`` for an invocation whose response may stream (``INVOKE_STREAM``: the
request came through the gateway). The adapter opens a ``Writer`` for each request and gives it the head and every
piece of the body as the app produces them, saying when a piece is the last. A response whose body is whole by
its first piece (the last piece, a piece that completes its ``Content-Length``, or a status without a body) stays
buffered and becomes the usual 2.0 proxy response, which the client gets in one write with its length. Otherwise,
when armed, the first non-empty piece sends the head and itself to the platform (``HEAD`` and ``CHUNK`` frames)
and every later piece goes at once; the adapter then returns None, and the invocation's result ends the stream.

Before each piece it streams, the writer looks (without blocking) for the platform's ``CANCEL``: the client has
gone. From then on every write raises ``ClientDisconnected``, a ``BrokenPipeError`` as a write to a closed socket
would raise, and the adapter ends the request as a server would.
"""

from __future__ import annotations

import socket

import orjson

from hearth.runtimes.python import protocol
from hearth.runtimes.python.entry.request import ProxyResponse, proxy_response, stream_headers

_NO_BODY = frozenset({204, 304})
_CANCELLED_FRAME = protocol.frame(protocol.CANCELLED, b"")


class ClientDisconnected(BrokenPipeError):
    """The client of a streamed response has gone (the platform sent ``CANCEL``)."""


class Output:
    """An adapter's way out: the instance's channel, and whether the invocation in flight may stream."""

    __slots__ = ("armed", "channel")

    def __init__(self) -> None:
        self.channel: socket.socket | None = None  # set by the worker once the entry point is loaded
        self.armed = False  # set by the worker for one invocation; taken by ``open``

    def open(self) -> Writer:
        """The writer for the request of the invocation in flight."""
        armed, self.armed = self.armed, False
        return Writer(self.channel if armed else None)


class Writer:
    """One response: buffered until it must stream (see the module docstring)."""

    __slots__ = ("cancelled", "channel", "chunks", "declared", "headers", "size", "status", "streaming")

    def __init__(self, channel: socket.socket | None) -> None:
        self.channel = channel  # None: this response cannot stream
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.declared: int | None = None  # the app's Content-Length
        self.chunks: list[bytes] = []
        self.size = 0
        self.streaming = False
        self.cancelled = False

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """The response head; it may be replaced until the body has started to stream."""
        self.status = status
        self.headers = headers
        self.declared = None
        for name, value in headers:
            if name.lower() == "content-length" and value.strip().isdigit():
                self.declared = int(value)

    def write(self, data: bytes, last: bool = False) -> None:
        """The next piece of the body; ``last`` when the app has said no more follows."""
        if self.streaming:
            if data:
                self._send(_chunk_frames(data))
            return
        if data:
            self.chunks.append(data)
            self.size += len(data)
        if last or not data or self.channel is None or (self.declared is not None and self.size >= self.declared):
            return
        status = self.status
        if status is None or status < 200 or status in _NO_BODY:
            return
        self.streaming = True
        head = orjson.dumps({"status": status, "headers": stream_headers(self.headers)})
        body = b"".join(self.chunks)
        self.chunks = []
        self._send(protocol.frame(protocol.HEAD, head) + _chunk_frames(body))

    def response(self) -> ProxyResponse | None:
        """The whole response as a 2.0 proxy response, or None when it has streamed."""
        if self.streaming:
            return None
        assert self.status is not None, "a response without a head"
        return proxy_response(self.status, self.headers, b"".join(self.chunks))

    def poll_cancel(self) -> bool:
        """Whether the client has gone: reads the platform's ``CANCEL`` without blocking, and answers it."""
        if self.cancelled:
            return True
        channel = self.channel
        if channel is None or not self.streaming:
            return False
        try:
            data = channel.recv(protocol.HEADER.size, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        self.cancelled = True  # a CANCEL (nothing else comes during an invocation), or the platform has gone
        if data:
            if len(data) < protocol.HEADER.size:  # never seen for 5 bytes on a Unix socket, but be exact
                channel.recv(protocol.HEADER.size - len(data), socket.MSG_WAITALL)
            try:
                channel.sendall(_CANCELLED_FRAME)
            except OSError:
                pass  # the platform has gone: it is killing this instance
        return True

    def _send(self, data: bytes) -> None:
        if self.poll_cancel():
            raise ClientDisconnected("the client has disconnected")
        assert self.channel is not None
        try:
            self.channel.sendall(data)
        except OSError:
            self.cancelled = True
            raise ClientDisconnected("the platform has closed the stream") from None


def _chunk_frames(data: bytes) -> bytes:
    if len(data) <= protocol.MAX_CHUNK:
        return protocol.frame(protocol.CHUNK, data)
    view = memoryview(data)
    return b"".join(protocol.frame(protocol.CHUNK, bytes(view[start:start + protocol.MAX_CHUNK]))
                    for start in range(0, len(data), protocol.MAX_CHUNK))
