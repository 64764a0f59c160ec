"""Forward one gateway request to a server process and stream its response back (raw ASGI on both sides).

- The request goes out as the client sent it: method, path and query (``raw_path``), headers with ``Host``
  unchanged, minus the hop-by-hop headers of RFC 9110 §7.6.1 (``Connection`` and those it names, ``Keep-Alive``,
  ``Transfer-Encoding``, ``TE``, ``Trailer``, ``Upgrade``, ``Proxy-*``) and ``Expect`` (the gateway has already
  answered ``100 Continue``). The gateway is the edge, so ``X-Forwarded-For/-Proto/-Host/-Port`` are set from
  the client's connection (values a client sent are dropped, with ``Forwarded``); ``X-Amzn-RequestId`` carries
  the request id so the server can log it.
- Bodies stream both ways with ASGI ``more_body``: a request body that arrives in one piece leaves with the head
  in one write; a longer one is pumped by a task while the response is read (a server may answer while it
  reads), waiting for the socket to drain. Memory stays bounded by the client's and the server's flow control.
- The deadline (``timeout_s``) covers the exchange from sending the request to the last response byte. When it
  passes, the connection to the server is dropped and the client gets 504 (``Sandbox.Timedout``), or, once the
  response has started, a cut-off response. The process is not killed: it serves other requests at the same time.
- A request that failed on a reused keep-alive connection before any response byte (the server had just closed
  it) is sent again once on a new connection, when its whole body was in the first write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hearth import errors
from hearth.asgi import Headers, Receive, Scope, Send
from hearth.gateway.forwarded import FORWARDED, Forwarded
from hearth.runtimes.http.client import (
    HOP_BY_HOP,
    LAST_CHUNK,
    PLAIN_CONNECTION,
    BackendError,
    Connection,
    connection_tokens,
    encode_chunk,
)

if TYPE_CHECKING:
    from hearth.runtimes.http.process import ServerProcess

_REQUEST_DROPPED = HOP_BY_HOP | {b"expect", b"forwarded", b"x-forwarded-for", b"x-forwarded-proto",
                                 b"x-forwarded-host", b"x-forwarded-port", b"x-amzn-requestid"}
_NO_BODY, _LENGTH, _CHUNKED = 0, 1, 2
FinishHeaders = Callable[[Headers], Headers]


@dataclass(slots=True)
class Outcome:
    """How one proxied exchange ended, for its record; ``error`` is raised to the gateway unless ``started``."""

    status: str = "success"  # success | error | timeout | crash | oom
    error: errors.FunctionFailure | None = None
    started: bool = False  # the response head went to the client: an error can only cut the response off


def upstream_headers(scope: Scope, request_id: str) -> tuple[Headers, int]:
    """The headers to send to the server (see the module docstring) and how the request body is framed."""
    headers: Headers = []
    framing = _NO_BODY
    host = b""
    dropped = _REQUEST_DROPPED
    for name, value in scope["headers"]:
        if name in dropped:
            if name == b"transfer-encoding":
                framing = _CHUNKED
            elif name == b"connection":
                named = connection_tokens(value)
                if named - {b"keep-alive", b"close"}:
                    dropped = dropped | named
            continue
        if name == b"content-length":
            if framing == _NO_BODY:
                framing = _LENGTH
        elif name == b"host":
            host = value
        headers.append((name, value))
    if framing == _CHUNKED:  # the body is re-chunked; a Content-Length beside it would be wrong
        headers = [(name, value) for name, value in headers if name != b"content-length"]
        headers.append((b"transfer-encoding", b"chunked"))
    forwarded: Forwarded | None = scope.get(FORWARDED)
    client = scope.get("client")
    if forwarded is not None:  # through a trusted proxy: its chain, extended with its own address (as nginx does)
        headers.append((b"x-forwarded-for", forwarded.chain + b", " + forwarded.peer if forwarded.chain
                        else forwarded.peer))
        host = forwarded.host or host
    elif client:
        headers.append((b"x-forwarded-for", str(client[0]).encode()))
    headers.append((b"x-forwarded-proto", b"https" if scope.get("scheme") in ("https", "wss") else b"http"))
    if host:
        headers.append((b"x-forwarded-host", host))
    server = scope.get("server")
    if server and server[1] is not None:
        headers.append((b"x-forwarded-port", str(server[1]).encode()))
    headers.append((b"x-amzn-requestid", request_id.encode()))
    return headers, framing


def request_line(scope: Scope) -> bytes:
    """The request line to send: the client's method, path and query as they were sent."""
    query = scope.get("query_string")
    return b"".join((scope["method"].encode(), b" ", scope.get("raw_path") or scope["path"].encode(),
                     b"?" + query if query else b"", b" HTTP/1.1\r\n"))


def request_head(scope: Scope, request_id: str) -> tuple[list[bytes], int]:
    """The request line and headers to send (a list of pieces to join) and how the body is framed."""
    headers, framing = upstream_headers(scope, request_id)
    parts = [request_line(scope)]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return parts, framing


def response_headers(raw: Headers) -> Headers:
    """The server's response headers without the hop-by-hop ones (and those its ``Connection`` names)."""
    dropped = HOP_BY_HOP
    for name, value in raw:
        if name == b"connection" and value not in PLAIN_CONNECTION:
            dropped = dropped | connection_tokens(value)
    return [(name, value) for name, value in raw if name not in dropped]


async def forward(instance: ServerProcess, scope: Scope, receive: Receive, send: Send, request_id: str,
                  finish: FinishHeaders, timeout_s: float) -> Outcome:
    """Send the request to ``instance`` and stream the response to the client; never raises for the server's
    faults (they are in the outcome)."""
    parts, framing = request_head(scope, request_id)
    more = False
    if framing != _NO_BODY:
        message = await receive()
        if message["type"] == "http.disconnect":
            return Outcome("error")
        body = message.get("body", b"")
        more = bool(message.get("more_body"))
        if framing == _CHUNKED:
            if body:
                parts.append(encode_chunk(body))
            if not more:
                parts.append(LAST_CHUNK)
        elif body:
            parts.append(body)
    data = b"".join(parts)
    connections = instance.connections
    assert connections is not None
    deadlines = instance.runtime.deadlines
    head_request = scope["method"] == "HEAD"
    pump: asyncio.Task[None] | None = None
    connection = connections.reuse()  # a keep-alive connection is taken without a wait
    retry = connection is not None and not more
    try:
        while True:
            if connection is None:
                try:
                    connection = await connections.connect()
                except OSError:
                    return await _failed(instance, None, timeout_s)
            connection.begin(head_request)
            deadlines.add(connection, timeout_s)
            try:
                connection.write(data)
                if more:
                    pump = asyncio.get_running_loop().create_task(_pump(receive, connection, framing == _CHUNKED))
                while not connection.head_arrived():
                    await connection.wait()
                break
            except BackendError:
                deadlines.discard(connection)
                if retry and not connection.received and not connection.timed_out:
                    retry = False  # the server had closed this idle connection: send it again on a new one
                    connection = None
                    continue
                return await _failed(instance, connection, timeout_s)
        outcome = Outcome(started=True)
        await send({"type": "http.response.start", "status": connection.status,
                    "headers": finish(connection.headers)})
        try:
            while True:
                taken = connection.take()
                if taken is None:
                    await connection.wait()
                    continue
                chunk, more_body = taken
                await send({"type": "http.response.body", "body": chunk, "more_body": more_body})
                if not more_body:
                    break
        except BackendError:  # cut off: returning without the last body message closes the client's connection
            failed = await _failed(instance, connection, timeout_s)
            outcome.status, outcome.error = failed.status, failed.error
        return outcome
    finally:
        if connection is not None:
            deadlines.discard(connection)
            if pump is not None and not pump.done():
                pump.cancel()
                connection.reusable = False  # the request body was not all sent
            connections.release(connection)
        if pump is not None:
            with contextlib.suppress(asyncio.CancelledError, BackendError, OSError):
                await pump


async def _failed(instance: ServerProcess, connection: Connection | None, timeout_s: float) -> Outcome:
    timed_out = connection is not None and connection.timed_out
    failure, status = await instance.failure(timed_out, timeout_s)
    return Outcome(status, failure)


async def _pump(receive: Receive, connection: Connection, chunked: bool) -> None:
    """Copy the rest of the request body from the client to the server, waiting for the socket to drain."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            connection.abort()
            return
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if chunked:
            data = (encode_chunk(body) if body else b"") + (b"" if more else LAST_CHUNK)
        else:
            data = body
        if data:
            connection.write(data)
            if connection.writing_paused:
                await connection.drain()
        if not more:
            return
