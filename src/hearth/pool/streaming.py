"""Responses that reach the HTTP client while the invocation still runs (Lambda's response streaming).

The gateway puts a ``ResponseStream`` on the ``InvokeRequest``. A runtime whose instance can stream (a Python
entry point: a WSGI or ASGI app, a ``BaseHTTPRequestHandler``) calls ``start`` with the response head once the
app has written its first body bytes, ``write`` for each piece of the body, then ``end`` exactly once; in between it
hands the stream a ``Flow``, so a slow client slows the instance down and a client that leaves stops it. A
response the app produced in one piece never streams: the invocation's payload carries it, as it always did.

The invocation's timeout covers the whole stream; ``end(complete=False)`` cuts the response off (the client sees
a body that is not terminated). A streamed body may be at most ``STREAMED_RESPONSE_LIMIT`` bytes, where a
buffered payload may be 6 MB.
"""

from __future__ import annotations

from typing import Protocol

STREAMED_RESPONSE_LIMIT = 20 * 1024 * 1024  # Lambda's default (soft) limit on a streamed response


class Flow(Protocol):
    """The instance end of a stream, as the stream's consumer sees it."""

    def pause(self) -> None:
        """Stop taking body bytes from the instance for now (the client is slower than the app)."""

    def resume(self) -> None:
        """Take body bytes again."""

    def cancel(self) -> None:
        """The client has gone: tell the app to stop (its remaining output is dropped)."""


class ResponseStream(Protocol):
    """Where a streamed response goes; every call is made on the event loop and returns at once."""

    started: bool

    def start(self, status: int, headers: list[tuple[bytes, bytes]], flow: Flow) -> None:
        """The response head (framing and hop-by-hop headers already removed) and the flow to steer."""

    def write(self, chunk: bytes) -> None:
        """The next piece of the body."""

    def end(self, complete: bool) -> None:
        """The body is over: whole (``complete``), or cut off by an error, a timeout or a crash."""
