"""Forward one upgraded connection (a WebSocket, or any protocol upgrade) from the gateway to a server process.

The gateway's HTTP server hands an upgrade request over as a ``hearth.tunnel`` (see ``hearth.http_server``).
The request goes to the server on a connection of its own, with the headers of a proxied request (``Host`` as
sent, ``X-Forwarded-*`` set, hop-by-hop ones dropped) plus the ``Connection: upgrade`` and ``Upgrade`` it asked
for. The server's answer decides:

- ``101 Switching Protocols``: its head goes to the client (finished like every proxied response) and from then
  on bytes are copied both ways as they come, untouched — frames, pings, extensions, subprotocols and close codes
  are the two ends' business, as with any reverse proxy. When either side closes, the other is closed.
- anything else refuses the upgrade: that response (status, headers, body) goes to the client as it is.

The connection holds one request slot while it is open; ``timeout_s`` does not apply to it (a WebSocket lives as
long as its two ends want), but the server must answer the upgrade within ``OPEN_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import httptools

from hearth.asgi import Headers, Receive, Scope, Send
from hearth.runtimes.http.proxy import FinishHeaders, Outcome, request_line, response_headers, upstream_headers

if TYPE_CHECKING:
    from hearth.runtimes.http.process import ServerProcess

OPEN_TIMEOUT_S = 10.0
MAX_REFUSAL_BYTES = 1024 * 1024  # a refusal's body, read whole before it is passed on
READ_SIZE = 64 * 1024
_END_OF_HEAD = b"\r\n\r\n"


def upgrade_requested(scope: Scope) -> bytes | None:
    """The protocol an upgrade request asks for (lower-case), or None for a plain request."""
    if "hearth.tunnel" not in scope.get("extensions", ()):
        return None
    for name, value in scope["headers"]:
        if name == b"upgrade":
            return bytes(value).strip().lower()
    return None


async def forward_upgrade(instance: ServerProcess, scope: Scope, receive: Receive, send: Send, request_id: str,
                          finish: FinishHeaders) -> Outcome:
    """Proxy the connection until either side closes; never raises for the server's faults."""
    headers, _ = upstream_headers(scope, request_id)
    protocol = upgrade_requested(scope) or b"websocket"
    parts = [request_line(scope)]
    for name, value in [*headers, (b"connection", b"upgrade"), (b"upgrade", protocol)]:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", instance.port),
                                                OPEN_TIMEOUT_S)
    except (TimeoutError, OSError):
        failure, status = await instance.failure(False, 0.0)
        return Outcome(status, failure)
    try:
        writer.write(b"".join(parts))
        try:
            head = await asyncio.wait_for(reader.readuntil(_END_OF_HEAD), OPEN_TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            failure, status = await instance.failure(False, 0.0)
            return Outcome(status, failure)
        status_code, raw_headers = _parse_head(head)
        if status_code != 101:
            await _refuse(status_code, raw_headers, head, reader, send, finish)
            return Outcome(started=True)
        kept = [(name, value) for name, value in raw_headers if name in (b"connection", b"upgrade")]
        await send({"type": "http.response.start", "status": 101,
                    "headers": finish(response_headers(raw_headers)) + kept})
        broke = await _relay(receive, send, reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if broke and instance.exited:
        failure, status = await instance.failure(False, 0.0)
        return Outcome(status, failure, started=True)
    return Outcome(started=True)


def _parse_head(head: bytes) -> tuple[int, Headers]:
    lines = head.split(b"\r\n")
    fields = lines[0].split(b" ", 2)
    status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 502
    headers: Headers = []
    for line in lines[1:]:
        name, separator, value = line.partition(b":")
        if separator:
            headers.append((name.strip().lower(), value.strip()))
    return status, headers


async def _refuse(status: int, raw_headers: Headers, head: bytes, reader: asyncio.StreamReader, send: Send,
                  finish: FinishHeaders) -> None:
    """Pass the server's refusal on: its status, headers and (bounded) body (read through ``head`` and on)."""
    response = _Body()
    parser = httptools.HttpResponseParser(response)
    with contextlib.suppress(httptools.HttpParserError):
        parser.feed_data(head)
        while not response.complete and len(response.body) <= MAX_REFUSAL_BYTES:
            data = await asyncio.wait_for(reader.read(READ_SIZE), OPEN_TIMEOUT_S)
            if not data:
                parser.feed_data(b"")  # a body delimited by the end of the connection
                break
            parser.feed_data(data)
    headers = [(name, value) for name, value in response_headers(raw_headers) if name != b"content-length"]
    await send({"type": "http.response.start", "status": status, "headers": finish(headers)})
    await send({"type": "http.response.body", "body": bytes(response.body[:MAX_REFUSAL_BYTES])})


class _Body:
    """The body httptools reads of a refusal (however it is framed)."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


async def _relay(receive: Receive, send: Send, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Copy bytes both ways until one side closes; True if the server's side ended first."""
    loop = asyncio.get_running_loop()
    from_client = loop.create_task(_client_to_server(receive, writer))
    from_server = loop.create_task(_server_to_client(reader, send))
    try:
        await asyncio.wait([from_client, from_server], return_when=asyncio.FIRST_COMPLETED)
        server_first = not from_client.done()
    finally:
        for task in (from_client, from_server):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, RuntimeError):
                await task
    return server_first


async def _client_to_server(receive: Receive, writer: asyncio.StreamWriter) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        data = message.get("body", b"")
        if data:
            writer.write(data)
            await writer.drain()
        if not message.get("more_body", False):
            return


async def _server_to_client(reader: asyncio.StreamReader, send: Send) -> None:
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send({"type": "http.response.body", "body": data, "more_body": True})
