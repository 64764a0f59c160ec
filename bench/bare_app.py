"""The baseline: a bare raw-ASGI hello app, served by uvicorn (uvloop, httptools), the usual way to serve one.

It answers every HTTP request with the same small JSON body Hearth's bench functions return, so the difference
between the two is what Hearth adds: routing, the event, the hop to an instance and back.
Run as ``python -m uvicorn bare_app:app --app-dir bench ...`` (``bench/_common.start_bare_uvicorn`` does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

BODY = b'{"message":"hello"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
              send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """Answer 200 with ``BODY``; ignore anything that is not HTTP."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
