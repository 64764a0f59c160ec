"""Forward one WebSocket connection from the gateway (ASGI ``websocket`` scope) to a server process.

The gateway opens the connection to the server first, with the client's path, query, headers (``Host`` as sent,
``X-Forwarded-*`` set, hop-by-hop and handshake headers left to each side) and offered subprotocols, and accepts
the client only once the server has: with the subprotocol the server chose. A server that refuses the upgrade
has its status and body passed back to the client (ASGI's ``websocket.http.response``). Then frames are copied
both ways as they come (text stays text, binary stays binary), and the first side to close passes its close
code and reason to the other. The connection holds one request slot while it is open; ``timeout_s`` does not
apply to it (a WebSocket lives as long as its two ends want).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import CloseCode

from hearth.asgi import Receive, Scope, Send
from hearth.runtimes.http.proxy import HOP_BY_HOP, Outcome, upstream_headers

if TYPE_CHECKING:
    from hearth.runtimes.http.process import ServerProcess

OPEN_TIMEOUT_S = 10.0
_HANDSHAKE = frozenset({b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                        b"sec-websocket-protocol", b"sec-websocket-accept", b"host", b"content-length"})
_UNSENDABLE = {1005: 1000, 1006: 1011, 1015: 1011}  # codes that only report, never travel in a close frame


def _upstream_headers(scope: Scope, request_id: str) -> tuple[str, list[tuple[str, str]]]:
    """The client's Host and the other headers to send to the server (the rules of plain HTTP requests)."""
    raw, _ = upstream_headers(scope, request_id)
    host = ""
    headers: list[tuple[str, str]] = []
    for name, value in raw:
        if name == b"host":
            host = value.decode("latin-1")
        elif name not in _HANDSHAKE:
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
    return host, headers


class _Upstream(ClientConnection):
    """A client connection whose handshake carries the client's own ``Host`` header."""

    host = ""

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        build = self.protocol.connect
        host = self.host

        def with_host() -> Any:
            request = build()
            if host:
                del request.headers["Host"]
                request.headers["Host"] = host
            return request

        self.protocol.connect = with_host  # type: ignore[method-assign]
        await super().handshake(*args, **kwargs)


async def forward_websocket(instance: ServerProcess, scope: Scope, receive: Receive, send: Send,
                            request_id: str) -> Outcome:
    """Proxy the connection until either side closes; never raises for the server's faults."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return Outcome("error")
    host, headers = _upstream_headers(scope, request_id)
    target = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string")
    uri = f"ws://127.0.0.1:{instance.port}{target.decode('latin-1')}" + (f"?{query.decode('latin-1')}" if query
                                                                            else "")

    class Upstream(_Upstream):
        pass

    Upstream.host = host
    try:
        upstream = await connect(uri, additional_headers=headers, subprotocols=scope.get("subprotocols") or None,
                                 user_agent_header=None, compression=None, ping_interval=None, max_size=None,
                                 open_timeout=OPEN_TIMEOUT_S, create_connection=Upstream)
    except InvalidStatus as refused:
        await _reject(scope, send, refused.response.status_code, list(refused.response.headers.raw_items()),
                      bytes(refused.response.body or b""))
        return Outcome("success", started=True)
    except (OSError, InvalidHandshake, TimeoutError):
        failure, status = await instance.failure(False, 0.0)
        return Outcome(status, failure)
    accepted = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in upstream.response.headers.raw_items()
                if name.lower().encode("latin-1") not in HOP_BY_HOP | _HANDSHAKE] if upstream.response else []
    await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol, "headers": accepted})
    loop = asyncio.get_running_loop()
    from_client = loop.create_task(_client_to_server(receive, upstream))
    from_server = loop.create_task(_server_to_client(upstream, send))
    try:
        await asyncio.wait([from_client, from_server], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (from_client, from_server):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError, RuntimeError):
                await task
        with contextlib.suppress(ConnectionClosed, OSError):
            await upstream.close()
    if from_server.done() and not from_server.cancelled() and from_server.exception() is None \
            and from_server.result() and instance.exited:
        failure, status = await instance.failure(False, 0.0)
        return Outcome(status, failure, started=True)
    return Outcome(started=True)


async def _client_to_server(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            await upstream.send(text if text is not None else message.get("bytes") or b"")
        elif kind == "websocket.disconnect":
            code = message.get("code") or 1000
            await upstream.close(_UNSENDABLE.get(code, code), message.get("reason") or "")
            return


async def _server_to_client(upstream: ClientConnection, send: Send) -> bool:
    """Copy the server's messages to the client, then its close; True if the connection broke off."""
    broke = False
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    except ConnectionClosed:
        broke = True
    received = upstream.protocol.close_rcvd
    code = received.code if received is not None else CloseCode.ABNORMAL_CLOSURE
    await send({"type": "websocket.close", "code": _UNSENDABLE.get(code, code),
                "reason": received.reason if received is not None else ""})
    return broke


async def _reject(scope: Scope, send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    """Refuse the client's upgrade with the server's own answer when the ASGI server can send one."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    kept = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
            if name.lower().encode("latin-1") not in HOP_BY_HOP | {b"content-length"}]
    await send({"type": "websocket.http.response.start", "status": status, "headers": kept})
    await send({"type": "websocket.http.response.body", "body": body})
