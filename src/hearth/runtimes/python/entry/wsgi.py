"""A WSGI app (PEP 3333: Flask, Django, …) served one request per invocation.

The environ is a server's: ``wsgi.input`` holds the body, ``PATH_INFO`` is the decoded path and ``SCRIPT_NAME``
is empty (a route's prefix is not stripped, as a server mounted at ``/`` would not), ``QUERY_STRING`` is raw,
``SERVER_NAME``/``SERVER_PORT`` come from ``Host``, ``wsgi.url_scheme`` from ``X-Forwarded-Proto``. Mangum's
``aws.event`` and ``aws.context`` carry the event and the context. Through the gateway, each piece the app's
iterable yields (or ``write()`` is given) streams to the client as it comes (``output.py``); a list or tuple, or a
body as long as its ``Content-Length``, is whole already and goes back as one response. A client that leaves
mid-stream ends the iteration, and ``close()`` is called, as a server does.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import unquote_to_bytes

from hearth import errors
from hearth.runtimes.python.entry.output import Output, Writer
from hearth.runtimes.python.entry.request import ProxyResponse, Request, request_from_event

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
WsgiApp = Callable[[dict[str, Any], Callable[..., Callable[[bytes], None]]], Iterable[bytes]]


class _Response:
    """``start_response`` and ``write`` for one request, in front of its ``Writer``."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = False  # the head has gone with the first body bytes: start_response may not change it

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: ExcInfo | None = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # PEP 3333: no reference cycle through the traceback
        elif self.status is not None:
            raise RuntimeError("start_response() called a second time without exc_info")
        self.status = status
        self.headers = list(headers)
        return self.write

    def write(self, data: bytes, last: bool = False) -> None:
        if self.status is None:
            raise RuntimeError("write() called before start_response()")
        if data:
            if not self.sent:  # PEP 3333: the head goes with the first non-empty body bytes
                self.sent = True
                self.writer.start(*self._head())
            self.writer.write(bytes(data), last)

    def finish(self) -> None:
        """The app's iterable is exhausted: a head not sent yet is the response's."""
        if self.status is None:
            raise errors.MalformedProxyResponse("the WSGI app returned without calling start_response()")
        if not self.sent:
            self.writer.start(*self._head())

    def _head(self) -> tuple[int, list[tuple[str, str]]]:
        status = self.status or ""
        code = status.split(None, 1)[0] if status.strip() else ""
        if not (code.isdigit() and len(code) == 3):
            raise errors.MalformedProxyResponse(f"the WSGI app's status {status!r} does not begin with a "
                                                "three-digit code")
        return int(code), [(str(name), value if isinstance(value, str) else bytes(value).decode("latin-1"))
                           for name, value in self.headers]


class WsgiAdapter:
    """Serves one request at a time with a WSGI app."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.output = Output()

    def __call__(self, event: dict[str, Any], context: Any) -> ProxyResponse | None:
        writer = self.output.open()
        request = request_from_event(event)
        response = _Response(writer)
        try:
            result = self.app(environ(request, event, context), response.start_response)
            try:
                whole = isinstance(result, (list, tuple))  # every piece is in hand: nothing to stream
                for chunk in result:
                    response.write(chunk, whole)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            if writer.cancelled:
                return None  # the client left mid-stream: the request ends here, as in a server
            raise
        response.finish()
        return writer.response()


def adapt(target: WsgiApp) -> WsgiAdapter:
    return WsgiAdapter(target)


def environ(request: Request, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The PEP 3333 environ for ``request``."""
    values: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(request.raw_path).decode("latin-1"),
        "QUERY_STRING": request.query,
        "SERVER_NAME": request.server[0],
        "SERVER_PORT": str(request.server[1]),
        "SERVER_PROTOCOL": f"HTTP/{request.http_version}",
        "REMOTE_ADDR": request.client[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.input_terminated": True,  # reading to the end is safe: the body is whole
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,  # several instances may run the app at once
        "wsgi.run_once": False,
        "aws.event": event,
        "aws.context": context,
    }
    for name, value in request.headers:
        if name == "content-type":
            values["CONTENT_TYPE"] = value
        elif name == "content-length":
            values["CONTENT_LENGTH"] = value
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
            values[key] = f"{values[key]},{value}" if key in values else value
    return values
