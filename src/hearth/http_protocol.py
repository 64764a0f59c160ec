"""The HTTP/1.1 protocol both surfaces run: uvicorn's httptools protocol, with each response sent in one write.

uvicorn writes a response's status line and headers in one ``transport.write`` and its body in another: two
``send(2)`` calls, two TCP segments, and a client woken twice for one small response. Here each request/response
cycle sees its transport through ``_HeadHeldBack``, which keeps the head until the next write (the first body
chunk), the end of the response (a HEAD request, a 204), or a close, and sends it with it. The bytes on the wire
are the same; only their grouping changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # uvicorn's interim response: it must go out at once


class _HeadHeldBack:
    """The transport as one request/response cycle sees it: the response head waits for what follows it."""

    __slots__ = ("_transport", "_head", "_head_seen", "_on_response")

    def __init__(self, transport: Any, on_response: Callable[[], None]) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._head_seen = False
        self._on_response = on_response

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif self._head_seen or data == _CONTINUE:
            self._transport.write(data)
        else:  # the cycle writes its head first (after any 100 Continue)
            self._head_seen = True
            self._head = data

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def response_complete(self) -> None:
        self.flush()  # a response without body bytes (HEAD, 204, 304) wrote nothing after its head
        self._on_response()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:  # anything else a later uvicorn may use goes straight through
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses leave in one write (head and body together)."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous:  # a new request/response cycle (not an upgrade)
            held = _HeadHeldBack(cycle.transport, cycle.on_response)
            cycle.transport = held  # type: ignore[assignment]
            cycle.on_response = held.response_complete
