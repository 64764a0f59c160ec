"""Vercel's ``class handler(BaseHTTPRequestHandler)``, run on one request per invocation.

The class is instantiated for each request, as ``http.server`` does, but on in-memory streams instead of a socket:
the request is written out as HTTP/1.1 bytes and the stdlib parses it itself, so ``self.command``, ``self.path``
(with the query), ``self.headers``, ``self.rfile`` and the ``do_<METHOD>`` dispatch (501 when the method has none)
behave as in a server. What the handler writes to ``wfile`` is parsed back into the response. Through the gateway,
a handler that calls ``self.wfile.flush()`` once its headers are ended streams: what it has written so far goes
to the client at each flush (unless it frames the body as chunked itself), the rest when it returns; without a
flush the response goes back whole, as before. A client that leaves mid-stream makes the next flush raise
``BrokenPipeError``, as a socket would.
"""

from __future__ import annotations

import io
import sys
from http.server import BaseHTTPRequestHandler
from typing import Any, NoReturn

from hearth import errors
from hearth.runtimes.python.entry.output import Output, Writer
from hearth.runtimes.python.entry.request import ProxyResponse, Request, proxy_response, request_from_event

_HANDLE_ONE_REQUEST = BaseHTTPRequestHandler.handle_one_request.__code__


class _Server:
    """What a handler may read from ``self.server``."""

    def __init__(self, address: tuple[str, int], writer: Writer) -> None:
        self.server_address = address
        self.server_name, self.server_port = address
        self.hearth_writer = writer


class _ResponseFile(io.BytesIO):
    """The handler's ``wfile``: in memory; a ``flush()`` the handler makes sends what it has written so far, once
    the head is complete, when the response may stream. (``http.server`` flushes after ``do_<METHOD>`` returns
    too; that flush is not the handler's, and the response then goes back whole.)"""

    def __init__(self, writer: Writer) -> None:
        super().__init__()
        self.writer = writer
        self.head_sent = False
        self.dechunk = False  # the handler frames the body as chunked itself: it cannot stream

    def flush(self) -> None:
        super().flush()
        if self.writer.channel is None or self.closed or self.dechunk \
                or sys._getframe(1).f_code is _HANDLE_ONE_REQUEST:
            return
        data = self.getvalue()
        if not self.head_sent:
            parsed = parse_head(data)
            if parsed is None:
                return
            status, headers, data = parsed
            if any(name.lower() == "transfer-encoding" and "chunked" in value.lower() for name, value in headers):
                self.dechunk = True
                return
            self.head_sent = True
            self.writer.start(status, headers)
        self.seek(0)
        self.truncate()
        self.writer.write(data)

    def finish(self) -> ProxyResponse | None:
        """The handler has returned: the whole response, or None when it has streamed (the rest goes now)."""
        data = self.getvalue()
        if not self.head_sent:
            return parse_response(data)
        self.writer.write(data, last=True)
        return self.writer.response()


class _InMemory:
    """Put before the user's class: its streams are in memory, and ``finish`` leaves them open to be read."""

    request: bytes
    rfile: io.BytesIO
    wfile: _ResponseFile
    server: _Server

    def setup(self) -> None:
        self.connection = None
        self.rfile = io.BytesIO(self.request)
        self.wfile = _ResponseFile(self.server.hearth_writer)

    def finish(self) -> None:
        pass


class HttpHandlerAdapter:
    """Serves one request at a time with a ``BaseHTTPRequestHandler`` subclass."""

    def __init__(self, handler_class: type[BaseHTTPRequestHandler]) -> None:
        self.handler_class = type(handler_class.__name__, (_InMemory, handler_class), {
            "__module__": handler_class.__module__, "__qualname__": handler_class.__qualname__})
        self.output = Output()

    def __call__(self, event: dict[str, Any], context: Any) -> ProxyResponse | None:
        writer = self.output.open()
        request = request_from_event(event)
        server = _Server(request.server, writer)
        try:
            handler = self.handler_class(request_bytes(request), request.client, server)
        except Exception:
            if writer.cancelled:
                return None  # the client left mid-stream: the handler's next write failed, as on a socket
            raise
        try:
            response: ProxyResponse | None = handler.wfile.finish()
            return response
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


def parse_head(data: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """The final response's status and headers and the bytes after them, once a whole head has been written
    (interim 1xx responses skipped); None before that. Raises on bytes that are not an HTTP response."""
    while True:
        head, separator, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status_line = lines[0].split(None, 2)
        if not separator:
            if data and not b"HTTP/".startswith(data[:5]):
                _not_a_response(data)
            return None
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") \
                or not (status_line[1].isdigit() and len(status_line[1]) == 3):
            _not_a_response(data)
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
    return status, headers, rest


def parse_response(data: bytes) -> ProxyResponse:
    """The response a handler wrote: status line, headers, then the body (as its framing says)."""
    if not data:
        raise errors.MalformedProxyResponse("the BaseHTTPRequestHandler wrote no response: call "
                                            "send_response(), send_header() and end_headers() first")
    parsed = parse_head(data)
    if parsed is None:
        _not_a_response(data)
    status, headers, rest = parsed
    framing = {name.lower(): value for name, value in headers
               if name.lower() in ("content-length", "transfer-encoding")}
    if "chunked" in framing.get("transfer-encoding", "").lower():
        body = _dechunk(rest)
    elif framing.get("content-length", "").isdigit():
        body = rest[:int(framing["content-length"])]
    else:
        body = rest  # delimited by the end of the connection
    return proxy_response(status, headers, body)


def _not_a_response(data: bytes) -> NoReturn:
    raise errors.MalformedProxyResponse(
        f"the BaseHTTPRequestHandler wrote no HTTP response (it began {data[:40]!r}): call send_response(), "
        "send_header() and end_headers() before writing the body")


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
