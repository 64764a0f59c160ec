"""A function's response sent to the HTTP client while the function still produces it (``pool/streaming.py``).

The gateway gives every invocation it makes a ``StreamedResponse``; it costs nothing unless the instance starts
a stream. Then a pump task sends ``http.response.start`` and one ``http.response.body`` (``more_body``) for
whatever body bytes have arrived since the last one, so the client gets each piece as soon as the app has made it
and a fast app's pieces travel together. The HTTP server chunks the body (or, for a response that ended before
its first body message, sends it with its ``Content-Length``).

- Flow control: more than ``HIGH_WATER`` bytes waiting for the client pause the instance (the app blocks in its
  next write), until the pump has handed them to the server.
- A response cut off (error, timeout, crash, size limit) ends without its last body message, which closes the
  client's connection: the body is visibly incomplete.
- A client that leaves mid-stream (``receive`` says ``http.disconnect``) cancels the stream: the app is told at
  its next write and the rest of its output is dropped. The invocation still ends as the app ends (or times out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hearth.asgi import Headers, Receive, Send
from hearth.pool.streaming import Flow

log = logging.getLogger("hearth.gateway")
HIGH_WATER = 256 * 1024  # body bytes waiting for the client before the instance is paused
FinishHeaders = Callable[[Headers], Headers]


class StreamedResponse:
    """The ``ResponseStream`` of one gateway request; ``closed()`` returns once the response has gone (or was cut
    off, or the client left)."""

    __slots__ = ("_chunks", "_complete", "_ended", "_finish", "_flow", "_gone", "_paused", "_pump", "_receive",
                 "_send", "_size", "_wake", "started")

    def __init__(self, send: Send, receive: Receive, finish: FinishHeaders) -> None:
        self._send = send  # made for every request through the gateway: the rest waits for ``start``
        self._receive = receive
        self._finish = finish  # the gateway's last word on the headers (its own, the response policy)
        self.started = False
        self._pump: asyncio.Task[None] | None = None

    # -- the instance's side (``ResponseStream``) ----------------------------------------------------------------

    def start(self, status: int, headers: Headers, flow: Flow) -> None:
        self.started = True
        self._flow = flow
        self._chunks: list[bytes] = []
        self._size = 0
        self._ended = False
        self._complete = False
        self._gone = False  # the client has left
        self._paused = False
        self._wake: asyncio.Future[None] | None = None
        self._pump = asyncio.get_running_loop().create_task(self._run(status, headers))

    def write(self, chunk: bytes) -> None:
        if self._gone or not chunk:
            return
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > HIGH_WATER and not self._paused:
            self._paused = True
            self._flow.pause()
        self._notify()

    def end(self, complete: bool) -> None:
        self._ended = True
        self._complete = complete
        self._notify()

    # -- the gateway's side ----------------------------------------------------------------------------------------

    async def closed(self) -> None:
        """Wait until the pump has sent everything it will send."""
        if self._pump is not None:
            await self._pump

    async def _run(self, status: int, headers: Headers) -> None:
        watcher = asyncio.get_running_loop().create_task(self._watch())
        try:
            await self._send({"type": "http.response.start", "status": status, "headers": self._finish(headers)})
            while not self._gone:
                if not self._chunks and not self._ended:
                    wake = self._wake = asyncio.get_running_loop().create_future()
                    await wake
                    continue
                body = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
                self._chunks.clear()
                self._size = 0
                if self._paused:
                    self._paused = False
                    self._flow.resume()
                if not self._ended:
                    await self._send({"type": "http.response.body", "body": body, "more_body": True})
                elif self._complete:
                    await self._send({"type": "http.response.body", "body": body, "more_body": False})
                    return
                else:  # cut off: what arrived goes, the last body message never does
                    if body:
                        await self._send({"type": "http.response.body", "body": body, "more_body": True})
                    return
        except Exception:  # the server refused a message: treat it as a client that has gone
            log.exception("sending a streamed response failed")
            self._leave()
        finally:
            watcher.cancel()

    async def _watch(self) -> None:
        """Hear the client leave: once the request body has been read, ``receive`` waits for the disconnect."""
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
        if not (self._ended and self._complete):
            self._leave()

    def _leave(self) -> None:
        if self._gone:
            return
        self._gone = True
        self._chunks.clear()
        self._size = 0
        if not self._ended:
            self._flow.cancel()
        self._notify()

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)
