"""Vercel's ``class handler(BaseHTTPRequestHandler)``, run on one request per invocation.

The class is instantiated for each request, as ``http.server`` does, but on in-memory streams instead of a socket:
the request is written out as HTTP/1.1 bytes and the stdlib parses it itself, so ``self.command``, ``self.path``
(with the query), ``self.headers``, ``self.rfile`` and the ``do_<METHOD>`` dispatch (501 when the method has none)
behave as in a server. What the handler writes to ``wfile`` is parsed back into the response.
"""

from __future__ import annotations

import io
from http.server import BaseHTTPRequestHandler
from typing import Any

from hearth import errors
from hearth.runtimes.python.entry.request import ProxyResponse, Request, proxy_response, request_from_event


class _Server:
    """What a handler may read from ``self.server``."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.server_address = address
        self.server_name, self.server_port = address


class _InMemory:
    """Put before the user's class: its streams are buffers, and ``finish`` leaves them open to be read."""

    request: bytes
    rfile: io.BytesIO
    wfile: io.BytesIO

    def setup(self) -> None:
        self.connection = None
        self.rfile = io.BytesIO(self.request)
        self.wfile = io.BytesIO()

    def finish(self) -> None:
        pass


class HttpHandlerAdapter:
    """Serves one request at a time with a ``BaseHTTPRequestHandler`` subclass."""

    def __init__(self, handler_class: type[BaseHTTPRequestHandler]) -> None:
        self.handler_class = type(handler_class.__name__, (_InMemory, handler_class), {
            "__module__": handler_class.__module__, "__qualname__": handler_class.__qualname__})

    def __call__(self, event: dict[str, Any], context: Any) -> ProxyResponse:
        request = request_from_event(event)
        handler = self.handler_class(request_bytes(request), request.client, _Server(request.server))
        try:
            return parse_response(handler.wfile.getvalue())
        finally:
            handler.rfile.close()
            handler.wfile.close()


def adapt(target: type[BaseHTTPRequestHandler]) -> HttpHandlerAdapter:
    return HttpHandlerAdapter(target)


def request_bytes(request: Request) -> bytes:
    """The request as a client would have sent it (HTTP/1.1, or 1.0 if it came so)."""
    target = f"{request.raw_path}?{request.query}" if request.query else request.raw_path
    version = "HTTP/1.0" if request.http_version == "1.0" else "HTTP/1.1"
    lines = [f"{request.method} {_one_line(target)} {version}"]
    lines.extend(f"{name}: {_one_line(value)}" for name, value in request.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def parse_response(data: bytes) -> ProxyResponse:
    """The response a handler wrote: status line, headers, then the body (as its framing says)."""
    while True:
        if not data:
            raise errors.MalformedProxyResponse("the BaseHTTPRequestHandler wrote no response: call "
                                                "send_response(), send_header() and end_headers() first")
        head, separator, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status_line = lines[0].split(None, 2)
        if not separator or len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") \
                or not (status_line[1].isdigit() and len(status_line[1]) == 3):
            raise errors.MalformedProxyResponse(
                f"the BaseHTTPRequestHandler wrote no HTTP response (it began {data[:40]!r}): call send_response(), "
                "send_header() and end_headers() before writing the body")
        status = int(status_line[1])
        if not 100 <= status < 200 or status == 101:
            break
        data = rest  # an interim response (100 Continue): the final one follows
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        text = line.decode("latin-1")
        if text[:1] in (" ", "\t") and headers:  # an obsolete folded line continues the previous value
            headers[-1] = (headers[-1][0], f"{headers[-1][1]} {text.strip()}")
            continue
        name, colon, value = text.partition(":")
        if colon:
            headers.append((name.strip(), value.strip()))
    framing = {name.lower(): value for name, value in headers
               if name.lower() in ("content-length", "transfer-encoding")}
    if "chunked" in framing.get("transfer-encoding", "").lower():
        body = _dechunk(rest)
    elif framing.get("content-length", "").isdigit():
        body = rest[:int(framing["content-length"])]
    else:
        body = rest  # delimited by the end of the connection
    return proxy_response(status, headers, body)


def _dechunk(data: bytes) -> bytes:
    chunks: list[bytes] = []
    position = 0
    while True:
        end = data.find(b"\r\n", position)
        if end < 0:
            break  # cut off: keep what arrived, as a client would
        try:
            size = int(data[position:end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise errors.MalformedProxyResponse("the BaseHTTPRequestHandler wrote a malformed chunked body") from None
        if size == 0:
            break
        chunks.append(data[end + 2:end + 2 + size])
        position = end + 2 + size + 2
    return b"".join(chunks)


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")
