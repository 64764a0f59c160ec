"""The few raw-ASGI helpers both HTTP surfaces share: read a bounded body, send one whole response, send a stream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote

import orjson

from hearth import errors

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


async def read_body(scope: Scope, receive: Receive, limit: int, purpose: str = "") -> bytes:
    """The whole request body; raises ``RequestTooLarge`` (saying the limit is ``purpose``, e.g. "for an
    asynchronous invocation (Event)") as soon as it is known to exceed ``limit``: from ``Content-Length`` before
    a byte of the body is read, else as the count of a chunked body passes it."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise errors.InvalidRequestContent("Content-Length is not a number") from None
            if declared > limit:
                raise errors.RequestTooLarge(too_large(declared, limit, purpose))
            break
    message = await receive()
    if message["type"] == "http.disconnect":
        raise errors.InvalidRequestContent("The client closed the connection before sending the whole body; "
                                           "send it again")
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body  # type: ignore[no-any-return]
    chunks = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":  # never pass a body on cut short: the function would act on it
            raise errors.InvalidRequestContent("The client closed the connection before sending the whole body; "
                                               "send it again")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.RequestTooLarge(too_large(size, limit, purpose))
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(size: int, limit: int, purpose: str = "") -> str:
    """``RequestTooLarge``'s message for a request of ``size`` bytes over ``limit`` (``purpose``: what for)."""
    return (f"Request must be smaller than {limit} bytes{' ' + purpose if purpose else ''}, got {size} bytes; "
            "send large inputs by reference (a URL or object key) instead")


async def respond(send: Send, status: int, headers: Headers, body: bytes) -> None:
    """Send one response with its Content-Length (never chunked)."""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, status: int, value: Any, headers: Headers | None = None) -> None:
    headers = headers if headers is not None else []
    headers.append((b"content-type", b"application/json"))
    await respond(send, status, headers, orjson.dumps(value))


async def send_stream(send: Send, receive: Receive, status: int, headers: Headers, head: bytes,
                      stream: AsyncGenerator[bytes, None]) -> None:
    """Send ``head``, then each chunk of ``stream``, until the stream ends or the client goes away (then the stream
    is closed without being read further)."""
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": head, "more_body": True})
        while True:
            chunk = asyncio.ensure_future(anext(stream))
            await asyncio.wait((chunk, gone), return_when=asyncio.FIRST_COMPLETED)
            if not chunk.done():  # the client disconnected: nobody reads the rest
                chunk.cancel()
                await asyncio.gather(chunk, return_exceptions=True)
                return
            try:
                body = chunk.result()
            except StopAsyncIteration:
                break
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        gone.cancel()
        await stream.aclose()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Routed(Protocol):
    """A route of a raw-ASGI surface's table: a method and a path pattern with named groups."""

    @property
    def method(self) -> str: ...

    @property
    def pattern(self) -> re.Pattern[str]: ...


RouteT = TypeVar("RouteT", bound=Routed)


def match_route(routes: Iterable[RouteT], method: str, path: str) -> tuple[RouteT | None, dict[str, str], list[str]]:
    """The first of ``routes`` for ``method path`` and its path parameters, URL-decoded; else None and the methods
    the path has (none: no route has that path)."""
    allowed = []
    for route in routes:
        found = route.pattern.match(path)
        if found is None:
            continue
        if route.method == method:
            return route, {key: unquote(value) for key, value in found.groupdict().items()}, []
        allowed.append(route.method)
    return None, {}, allowed
