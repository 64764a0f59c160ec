"""An ASGI 3 app (FastAPI, Starlette, Django's ASGI handler, …) served one request per invocation.

The instance keeps one event loop for its whole life, created at Init: the app's state, connection pools and
background tasks outlive an invocation, as they would in a server process (between invocations the loop does not
run, as a Lambda instance is frozen). Lifespan runs as uvicorn's ``lifespan="auto"``, which is how Vercel runs an
ASGI app: ``startup`` at Init (a ``startup.failed`` is the Init error; an app that raises or returns instead does
not speak lifespan and is served without it), and its ``state`` is copied into each request's scope. ``shutdown``
is never sent in production: an instance is killed when it is stopped, as Lambda does (``close()`` sends it, for
tests).

Each request gets ``receive`` → its whole body, then ``http.disconnect`` once the response is complete or the
client has gone. Through the gateway, each ``http.response.body`` with ``more_body=True`` streams to the client as
it is sent (``output.py``); a response whose first body message is its last (or completes its
``Content-Length``) goes back whole. While a response streams, the instance's channel is watched on the loop, so a
client that leaves is heard at once: ``receive`` says ``http.disconnect`` and ``send`` raises
``ClientDisconnected`` (an ``OSError``, as uvicorn's), and the request ends without an error.
An exception after a complete response (Starlette re-raises the one it has answered with 500) is logged, and the
response stands; one before it is the invocation's error.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from hearth import errors
from hearth.runtimes.python.entry.output import ClientDisconnected, Output, Writer
from hearth.runtimes.python.entry.request import ProxyResponse, Request, request_from_event

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

SHUTDOWN_TIMEOUT_S = 5.0


class _Exchange:
    """One request's ``receive`` and ``send``, in front of its ``Writer``."""

    def __init__(self, body: bytes, writer: Writer) -> None:
        self._body: bytes | None = body
        self._over = asyncio.Event()  # the response is complete, or the client has gone
        self.writer = writer
        self.started = False
        self.complete = False
        self._watched: int | None = None  # the channel's fd, watched for a CANCEL while the response streams

    def end(self) -> None:
        """The app has returned: a ``receive`` still waiting gets ``http.disconnect``."""
        self._over.set()
        if self._watched is not None:
            asyncio.get_running_loop().remove_reader(self._watched)
            self._watched = None

    async def receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self._over.wait()  # a server says the client left only once it has, or the response has gone
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("ASGI 'http.response.start' sent twice")
            self.started = True
            self.writer.start(int(message["status"]), [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                                                      for name, value in message.get("headers", ())])
        elif kind == "http.response.body":
            if not self.started:
                raise RuntimeError("ASGI 'http.response.body' sent before 'http.response.start'")
            if self.complete:
                raise RuntimeError("ASGI 'http.response.body' sent after the response was complete")
            more = bool(message.get("more_body", False))
            try:
                self.writer.write(bytes(message.get("body", b"")), not more)
            except ClientDisconnected:
                self._over.set()
                raise
            if not more:
                self.complete = True
                self._over.set()
            elif self.writer.streaming and self._watched is None:
                self._watch()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an 'http' connection")

    def _watch(self) -> None:
        """While the response streams, notice a CANCEL at once, so an app waiting between two pieces (Starlette's
        disconnect listener) hears ``http.disconnect`` then, not at its next send."""
        channel = self.writer.channel
        assert channel is not None
        self._watched = channel.fileno()
        asyncio.get_running_loop().add_reader(self._watched, self._poll)

    def _poll(self) -> None:
        if self.writer.poll_cancel():
            self._over.set()
            if self._watched is not None:
                asyncio.get_running_loop().remove_reader(self._watched)
                self._watched = None


class _Lifespan:
    """The app's lifespan protocol, run as a task on the instance's loop."""

    def __init__(self, app: AsgiApp, state: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.state = state
        self.loop = loop
        self.supported = False
        self._started: asyncio.Future[bool] = loop.create_future()
        self._stopped: asyncio.Future[None] = loop.create_future()
        self._stop = asyncio.Event()
        self._asked = False
        self._task: asyncio.Task[None] | None = None

    def startup(self) -> None:
        """Send ``lifespan.startup`` and wait for its answer; raises if the app says startup failed."""
        self._task = self.loop.create_task(self._run())
        self.supported = self.loop.run_until_complete(self._started)

    def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait (bounded) for the app to finish it."""
        if self._task is None or self._task.done():
            return
        if self.supported:
            self._stop.set()
            try:
                self.loop.run_until_complete(asyncio.wait_for(asyncio.shield(self._stopped), SHUTDOWN_TIMEOUT_S))
            except TimeoutError:
                pass
        self._task.cancel()
        self.loop.run_until_complete(asyncio.gather(self._task, return_exceptions=True))

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception:
            if self._started.done() and self.supported:  # it failed after startup: say so, keep serving
                sys.stderr.write("ASGI lifespan failed:\n" + traceback.format_exc())
        finally:  # an app that raised or returned before answering startup does not use lifespan
            if not self._started.done():
                self._started.set_result(False)
            if not self._stopped.done():
                self._stopped.set_result(None)

    async def _receive(self) -> Message:
        if not self._asked:
            self._asked = True
            return {"type": "lifespan.startup"}
        await self._stop.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete" and not self._started.done():
            self._started.set_result(True)
        elif kind == "lifespan.startup.failed" and not self._started.done():
            self._started.set_exception(RuntimeError(f"ASGI lifespan startup failed: {message.get('message', '')}"))
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if kind.endswith("failed"):
                sys.stderr.write(f"ASGI lifespan shutdown failed: {message.get('message', '')}\n")
            if not self._stopped.done():
                self._stopped.set_result(None)


class AsgiAdapter:
    """Serves one request at a time with an ASGI 3 app, on a loop that lives as long as the instance."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.output = Output()
        self.loop = asyncio.new_event_loop()
        self.lifespan = _Lifespan(app, self.state, self.loop)
        try:
            self.lifespan.startup()
        except BaseException:
            self.close()
            raise

    def __call__(self, event: dict[str, Any], context: Any) -> ProxyResponse | None:
        writer = self.output.open()
        request = request_from_event(event)
        return self.loop.run_until_complete(self._serve(request, event, context, writer))

    async def _serve(self, request: Request, event: dict[str, Any], context: Any,
                     writer: Writer) -> ProxyResponse | None:
        exchange = _Exchange(request.body, writer)
        try:
            await self.app(scope(request, self.state, event, context), exchange.receive, exchange.send)
        except Exception:
            if writer.cancelled:
                return None  # the client left mid-stream and the app gave up: the request ends here
            if not exchange.complete:
                raise
            sys.stderr.write("Exception in ASGI application (after its response):\n" + traceback.format_exc())
        finally:
            complete = exchange.complete
            exchange.end()
        if not exchange.started:
            raise errors.MalformedProxyResponse("the ASGI app returned without sending 'http.response.start'")
        if not complete:
            if writer.cancelled:
                return None  # it stopped because the client left (Starlette's disconnect listener)
            raise errors.MalformedProxyResponse("the ASGI app returned before its last 'http.response.body' "
                                                "(more_body was still true)")
        return writer.response()

    def close(self) -> None:
        """Send lifespan shutdown, then stop what is left on the loop and close it."""
        if self.loop.is_closed():
            return
        self.lifespan.shutdown()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


def adapt(target: AsgiApp) -> AsgiAdapter:
    return AsgiAdapter(target)


def scope(request: Request, state: dict[str, Any], event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The ASGI ``http`` scope for ``request``; ``state`` is the lifespan's, copied as uvicorn copies it."""
    raw_path = request.raw_path.encode("latin-1")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.http_version,
        "method": request.method,
        "scheme": request.scheme,
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": request.query.encode("latin-1"),
        "root_path": "",
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in request.headers],
        "client": request.client if request.client[0] else None,
        "server": request.server,
        "state": dict(state),
        "aws.event": event,
        "aws.context": context,
    }
