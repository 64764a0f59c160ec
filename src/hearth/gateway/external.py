"""A rewrite to another origin (vercel.json ``"destination": "https://api.example.com/:path*"``): the gateway
forwards the request there and streams the answer back, as Vercel's edge does.

The request keeps its method, headers and body; its target is the destination URL (path and query), and
``Host`` names the destination's host, as a browser would send it there; ``X-Forwarded-For/-Proto/-Host/-Port``
say where it came from (the reverse proxy's rules, ``runtimes/http/proxy.py``). The body is read whole first (at
most ``MAX_BODY`` bytes: ``RequestTooLargeException``, 413). ``https`` destinations are verified against the
system's certificate store. The origin's status, headers (hop-by-hop ones removed) and body stream back.

Failures are ``ExternalRewriteFailed``: 502 when the origin cannot be reached or breaks the exchange before its
response starts, 504 when it sends no response head within ``HEAD_TIMEOUT_S``. Once the response has started, a
failure (or ``READ_TIMEOUT_S`` without a byte) cuts it off.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

from hearth import errors
from hearth.asgi import Headers, Receive, Scope, Send, read_body
from hearth.runtimes.http.client import BackendError, Connection
from hearth.runtimes.http.proxy import response_headers, upstream_headers

MAX_BODY = 6 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
HEAD_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 60.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
_tls: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return _tls


async def forward(url: str, scope: Scope, receive: Receive, send: Send, request_id: str,
                  finish: Callable[[Headers], Headers]) -> None:
    """Send the request to ``url`` and stream the answer to the client; raises ``ExternalRewriteFailed`` (or
    ``RequestTooLarge``) before the response starts, cuts the response off after."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        raise errors.ExternalRewriteFailed(f"the rewrite's destination {url!r} is not an http or https URL")
    port = parts.port or _DEFAULT_PORTS[scheme]
    body = await read_body(scope, receive, MAX_BODY)
    forwarded, _ = upstream_headers(scope, request_id)  # X-Forwarded-Host: the host the client asked
    head = [f"{scope['method']} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
            .encode("latin-1"), b"host: ", parts.netloc.rsplit("@", 1)[-1].encode("idna"), b"\r\n"]
    for name, value in forwarded:
        if name not in (b"host", b"content-length", b"transfer-encoding"):
            head += (name, b": ", value, b"\r\n")
    if body or scope["method"] in ("POST", "PUT", "PATCH"):
        head += (b"content-length: ", str(len(body)).encode(), b"\r\n")
    head.append(b"\r\n")
    loop = asyncio.get_running_loop()
    connection: Connection | None = None
    try:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, connection = await loop.create_connection(
                    Connection, host, port, ssl=_tls_context() if scheme == "https" else None,
                    server_hostname=host if scheme == "https" else None)
        except (OSError, TimeoutError, ssl.SSLError) as error:
            raise errors.ExternalRewriteFailed(f"could not connect to {parts.netloc} for the rewrite of "
                                               f"{scope['path']}: {error or 'timed out'}") from None
        connection.begin(scope["method"] == "HEAD")
        connection.write(b"".join(head) + body)
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_S):
                status, raw_headers = await connection.response_head()
        except TimeoutError:
            raise errors.ExternalRewriteFailed(f"{parts.netloc} sent no response within {HEAD_TIMEOUT_S:g} s "
                                               f"to the rewrite of {scope['path']}", 504) from None
        except BackendError as error:
            raise errors.ExternalRewriteFailed(f"{parts.netloc} failed the rewrite of {scope['path']}: "
                                               f"{error}") from None
        await send({"type": "http.response.start", "status": status,
                    "headers": finish(response_headers(raw_headers))})
        while True:
            try:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    chunk, more = await connection.read()
            except (BackendError, TimeoutError):
                return  # cut off: the client's connection closes
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                return
    finally:
        if connection is not None:
            connection.close()
