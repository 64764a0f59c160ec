"""The HTTP side of the Lambda Runtime API (2018-06-01): a tiny HTTP/1.1 server on loopback, one per instance.

Lambda gives every execution environment its own endpoint (``AWS_LAMBDA_RUNTIME_API``); so does Hearth: a
listening socket per instance, so the instance a request belongs to is known from the socket it arrived on,
with no lookup and no way for one function to answer another's invocation.

This module only speaks HTTP: it parses requests (Content-Length or chunked bodies, trailers included, as Go's
client sends them), routes the four Runtime API paths to a ``RuntimeApiHandler`` and writes each response in one
``send()``. ``GET /next`` is a long poll: the handler answers it whenever an invocation arrives.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

import httptools
import orjson

from hearth.model import SYNC_PAYLOAD_LIMIT

PREFIX = "/2018-06-01/runtime/"
MAX_BODY = SYNC_PAYLOAD_LIMIT
_REASONS = {200: b"OK", 202: b"Accepted", 400: b"Bad Request", 403: b"Forbidden", 404: b"Not Found",
            405: b"Method Not Allowed", 413: b"Request Entity Too Large", 500: b"Internal Server Error"}


class Reply:
    """One pending request's way back: ``send`` writes its response (once) on the connection it came from."""

    __slots__ = ("_connection",)

    def __init__(self, connection: RuntimeApiConnection) -> None:
        self._connection: RuntimeApiConnection | None = connection

    @property
    def open(self) -> bool:
        connection = self._connection
        return connection is not None and connection.transport is not None

    def send(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        connection = self._connection
        if connection is None:
            return
        self._connection = None
        connection.respond(status, body, headers or [])

    def error(self, status: int, error_type: str, message: str) -> None:
        """An ``ErrorResponse`` as the Runtime API writes one."""
        self.send(status, orjson.dumps({"errorMessage": message, "errorType": error_type}),
                  [("Content-Type", "application/json")])

    def accepted(self) -> None:
        self.send(202, b'{"status":"OK"}', [("Content-Type", "application/json")])


class RuntimeApiHandler(Protocol):
    """What an instance does with the Runtime API calls its runtime makes."""

    def next_invocation(self, reply: Reply) -> None:
        """``GET /runtime/invocation/next``: answer now or when the next invocation arrives."""

    def invocation_response(self, request_id: str, body: bytes, too_large: bool, reply: Reply) -> None:
        """``POST /runtime/invocation/{id}/response``."""

    def invocation_error(self, request_id: str, body: bytes, error_type: str | None, reply: Reply) -> None:
        """``POST /runtime/invocation/{id}/error``; ``error_type`` from ``Lambda-Runtime-Function-Error-Type``."""

    def init_error(self, body: bytes, error_type: str | None, reply: Reply) -> None:
        """``POST /runtime/init/error``."""


class RuntimeApiConnection(asyncio.Protocol):
    """One connection from the runtime; requests on it are served in order (the runtime waits for each)."""

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._keep_alive = True

    # -- asyncio.Protocol --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # answered a malformed request and closing: ignore what follows
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrades are not part of the Runtime API")
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    # -- httptools callbacks -----------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value  # trailers arrive here too, after the body

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size <= MAX_BODY:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        method = self._parser.get_method()
        path = httptools.parse_url(self._url).path.decode("latin-1")
        self._route(method, path, Reply(self))

    # -- routing -----------------------------------------------------------------------------------------------

    def _route(self, method: bytes, path: str, reply: Reply) -> None:
        if not path.startswith(PREFIX):
            reply.error(404, "NotFound", f"{path} is not a Runtime API path; the API lives under {PREFIX}")
            return
        parts = path[len(PREFIX):].split("/")
        error_type = self._headers.get(b"lambda-runtime-function-error-type")
        kind = error_type.decode("latin-1") if error_type else None
        body = b"".join(self._body)
        handler = self.handler
        if parts == ["invocation", "next"]:
            if method != b"GET":
                reply.error(405, "MethodNotAllowed", "use GET for /runtime/invocation/next")
            else:
                handler.next_invocation(reply)
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            if method != b"POST":
                reply.error(405, "MethodNotAllowed", f"use POST for /runtime/invocation/{{id}}/{parts[2]}")
            elif parts[2] == "response":
                handler.invocation_response(parts[1], body, self._size > MAX_BODY, reply)
            else:
                handler.invocation_error(parts[1], body, kind, reply)
        elif parts == ["init", "error"]:
            if method != b"POST":
                reply.error(405, "MethodNotAllowed", "use POST for /runtime/init/error")
            else:
                handler.init_error(body, kind, reply)
        else:
            reply.error(404, "NotFound", f"{path} is not a Runtime API path")

    def respond(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        transport = self.transport
        if transport is None:
            return
        head = [f"HTTP/1.1 {status} ".encode() + _REASONS.get(status, b"Unknown")]
        head.extend(f"{name}: {value}".encode("latin-1") for name, value in headers)
        head.append(b"Content-Length: " + str(len(body)).encode())
        if not self._keep_alive:
            head.append(b"Connection: close")
        transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)  # one buffer: no Nagle stall
        if not self._keep_alive:
            transport.close()

    def _fail(self, status: int, message: str) -> None:
        self._keep_alive = False
        Reply(self).error(status, "InvalidRequest", message)


async def listen(handler: RuntimeApiHandler, host: str = "127.0.0.1") -> asyncio.Server:
    """A Runtime API endpoint for one instance on ``host`` and a free port."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: RuntimeApiConnection(handler), host, 0, backlog=16)
