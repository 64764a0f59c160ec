"""One Python instance as the platform sees it: its channel, its log pipe, its lifecycle and its limits.

The channel is the platform's end of a Unix socketpair (frames in ``protocol``); the log pipe carries the
instance's fd 1 and 2, so output from C extensions and subprocesses is captured too. Lines are attributed to
the invocation in flight: the worker flushes before it sends a result, and the platform drains the pipe before it
completes the invocation, so a line written during an invocation always lands in that invocation.

A response can stream (``pool/streaming.py``): when the request carries a ``ResponseStream`` and the instance said
at READY that it can, the invocation goes as ``INVOKE_STREAM``; a ``HEAD`` frame then starts a ``_Relay`` that
hands the head and each ``CHUNK`` to the stream as they arrive, and the invocation's result (or its error, timeout
or crash) ends it. The deadline covers the whole stream.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.model import SYNC_PAYLOAD_LIMIT
from hearth.pool.instance import InvokeOutcome, InvokeRequest, Lifecycle, State
from hearth.pool.limits.cgroups import open_joins
from hearth.pool.streaming import STREAMED_RESPONSE_LIMIT
from hearth.runtimes.logs import LogPipe
from hearth.runtimes.process import exit_failure, kill_group
from hearth.runtimes.python import protocol

if TYPE_CHECKING:
    from hearth.model import FunctionSpec
    from hearth.pool.streaming import ResponseStream
    from hearth.runtimes.python.runtime import PythonRuntime

INIT_TIMEOUT_S = 10.0  # Lambda's limit on the Init phase of an on-demand instance
EXIT_REPORT_WAIT_S = 2.0
_RESULTS = (protocol.RESULT, protocol.ERROR)
_RESULT_LIMIT = protocol.RESULT_HEAD.size + SYNC_PAYLOAD_LIMIT
_FLAGS_AT = protocol.RESULT_HEAD.size - 1
_STREAM_FRAMES = frozenset({protocol.HEAD, protocol.CHUNK, protocol.CANCELLED})
_CANCEL_FRAME = protocol.frame(protocol.CANCEL, b"")
_EOF = -1
_TIMEOUT = -2
_TOO_LARGE = -3


class _Relay:
    """A response streaming from the worker to a ``ResponseStream`` during one invocation; the stream's ``Flow``."""

    __slots__ = ("answered", "cancelled", "final", "open", "size", "stream", "transport")

    def __init__(self, stream: ResponseStream, transport: asyncio.Transport) -> None:
        self.stream = stream
        self.transport = transport
        self.size = 0
        self.open = True  # the stream has not ended
        self.cancelled = False  # a CANCEL went to the worker...
        self.answered = False  # ... and its CANCELLED came back
        self.final: tuple[int, bytes] | None = None  # the result, held until the CANCEL is answered

    def end(self, complete: bool) -> None:
        if self.open:
            self.open = False
            self.stream.end(complete)

    def pause(self) -> None:
        if self.open and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume(self) -> None:
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def cancel(self) -> None:
        if not self.open or self.cancelled or self.transport.is_closing():
            return
        self.cancelled = True  # nothing more goes to the worker until it answers (see ``protocol``)
        self.transport.write(_CANCEL_FRAME)
        self.transport.resume_reading()  # its output is dropped from now on; take it


class PythonInstance(asyncio.Protocol):
    """An instance forked from the zygote; see ``hearth.pool.instance.Instance``."""

    def __init__(self, runtime: PythonRuntime, spec: FunctionSpec, instance_id: int, generation: int,
                 child_spec: dict[str, Any], joins: list[str] | None = None) -> None:
        self.runtime = runtime
        self.spec = spec
        self.id = instance_id
        self.generation = generation
        self.lifecycle = Lifecycle()
        self.last_used = time.monotonic()
        self.pid: int | None = None
        self.init_ms: float | None = None
        self.init_log_lines: list[str] = []
        self.on_stopped: Callable[[PythonInstance], None] | None = None
        self._child_spec = child_spec
        self._joins = joins or []  # a sandboxed instance's cgroups, which it joins through files opened here
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int | None] = self._loop.create_future()
        self._exit_error: str | None = None
        self._oom_killed = False
        self._logs: LogPipe | None = None
        self.streams = False  # the worker said at READY that its responses can stream
        self._stream: ResponseStream | None = None  # the invocation in flight may stream into this
        self._stream_since = 0.0
        self._relay: _Relay | None = None

    @property
    def state(self) -> State:
        return self.lifecycle.state

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.lifecycle.to(State.INITIALIZING)
        loop = asyncio.get_running_loop()
        try:
            self._child_spec["env"].update(self.runtime.secret_env(self.spec, self.id))
            zygote = await self.runtime.zygote_for(self.spec)
            joins = open_joins(self._joins)  # a sandboxed child's way into its cgroups (ServiceError)
        except errors.HearthError:  # MissingSecret, SandboxUnavailable: never spawned, so no exit report will
            self.runtime.limiter.release(self.id)  # release its cgroups
            raise
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_read, log_write = os.pipe()
        try:
            zygote.spawn(self, self._child_spec, theirs.fileno(), log_write, joins)
        finally:
            theirs.close()
            os.close(log_write)
            for fd in joins:
                os.close(fd)
        logs = self._logs = LogPipe(log_read)
        self._waiter = loop.create_future()
        await loop.create_unix_connection(lambda: self, sock=ours)
        timer = loop.call_later(INIT_TIMEOUT_S, self.expire)
        try:
            kind, body = await self._waiter
        finally:
            timer.cancel()
        self.init_log_lines = logs.end_phase()
        if kind == protocol.READY:
            ready = orjson.loads(body)
            self.init_ms = float(ready["init_ms"])
            self.streams = bool(ready.get("streams"))
            self.runtime.limiter.started(self.id, self.spec.memory_mb)
            self.lifecycle.to(State.IDLE)
            return
        if kind == protocol.INIT_ERROR:
            report = orjson.loads(body)
            self.init_ms = float(report.pop("init_ms", 0.0))
            self.stop()
            raise errors.function_failure(report)
        if kind == _TIMEOUT:
            raise errors.Timedout(f"Init timed out after {INIT_TIMEOUT_S:.2f} seconds")
        failure = await self._exit_failure()
        self.init_log_lines += logs.end_phase()
        raise failure

    async def invoke(self, request: InvokeRequest, timeout_s: float) -> InvokeOutcome:
        self.lifecycle.to(State.BUSY)
        assert self._transport is not None and self._logs is not None
        deadline_ms = int((time.time() + timeout_s) * 1000)
        body = orjson.dumps({"id": request.request_id, "deadline_ms": deadline_ms,
                             "trace_id": request.trace_id, "event": request.event})
        waiter = self._waiter = self._loop.create_future()
        stream = request.stream
        if stream is not None and self.streams:
            self._stream = stream
            self._stream_since = time.monotonic()
            self._transport.write(protocol.frame(protocol.INVOKE_STREAM, body))
        else:
            self._transport.write(protocol.frame(protocol.INVOKE, body))
        deadlines = self.runtime.deadlines
        deadlines.add(self, timeout_s)
        try:
            kind, data = await waiter
        finally:
            deadlines.discard(self)
            self._stream = None
        self.last_used = time.monotonic()
        if kind == protocol.RESULT:  # the common case, without a coroutine for ``_outcome``
            duration_ms, max_rss_kb, _flags = protocol.RESULT_HEAD.unpack_from(data)
            self.lifecycle.to(State.IDLE)
            if len(data) <= _RESULT_LIMIT:
                outcome = InvokeOutcome(data[protocol.RESULT_HEAD.size:], None, duration_ms, max_rss_kb)
            else:
                failure = errors.response_too_large(SYNC_PAYLOAD_LIMIT)
                outcome = InvokeOutcome(None, failure, duration_ms, max_rss_kb, status="error")
        else:
            outcome = await self._outcome(kind, data, timeout_s)
        outcome.log_lines = self._logs.end_phase(drain=kind not in _RESULTS)  # and the lines written before
        outcome.log_times = self._logs.last_times
        return outcome

    async def _outcome(self, kind: int, data: bytes, timeout_s: float) -> InvokeOutcome:
        if kind in _RESULTS:
            duration_ms, max_rss_kb, _flags = protocol.RESULT_HEAD.unpack_from(data)
            payload = data[protocol.RESULT_HEAD.size:]
            if kind == protocol.RESULT:
                self.lifecycle.to(State.IDLE)
                return InvokeOutcome(payload, None, duration_ms, max_rss_kb)
            failure = errors.function_failure(orjson.loads(payload))
            if isinstance(failure, errors.OutOfMemory):  # RLIMIT_AS: the worker caught MemoryError and exits
                self.stop()
                return InvokeOutcome(None, failure, duration_ms, max_rss_kb, status="oom")
            self.lifecycle.to(State.IDLE)  # a handled exception leaves the instance usable, as on Lambda
            return InvokeOutcome(None, failure, duration_ms, max_rss_kb, status="error")
        if kind == _TOO_LARGE:  # the instance has been stopped
            elapsed_ms = (time.monotonic() - self._stream_since) * 1000.0
            return InvokeOutcome(None, errors.response_too_large(STREAMED_RESPONSE_LIMIT), elapsed_ms, 0,
                                 status="error")
        elapsed_ms = timeout_s * 1000.0
        if kind == _TIMEOUT:
            timed_out = errors.Timedout(f"Task timed out after {timeout_s:.2f} seconds")
            return InvokeOutcome(None, timed_out, elapsed_ms, 0, status="timeout")
        failure = await self._exit_failure()
        status = "oom" if isinstance(failure, errors.OutOfMemory) else "crash"
        return InvokeOutcome(None, failure, elapsed_ms, 0, status=status)

    def stop(self) -> None:
        if self.lifecycle.state is State.STOPPED:
            return
        self.lifecycle.to(State.STOPPED)
        relay = self._relay
        if relay is not None:
            self._relay = None
            relay.end(False)  # cut off
        self._kill()
        if self._transport is not None:
            self._transport.close()
        if self.on_stopped is not None:
            self.on_stopped(self)

    def _kill(self) -> None:
        kill_group(self.pid)

    def expire(self) -> None:
        """The deadline passed with the invocation (or Init) still running: kill the instance."""
        waiter = self._waiter
        self.stop()
        if waiter is not None and not waiter.done():
            if self._logs is not None:
                self._logs.read()
            waiter.set_result((_TIMEOUT, b""))

    async def _exit_failure(self) -> errors.FunctionFailure:
        """The instance process ended on its own: wait for its status and name the failure as Lambda does."""
        self.stop()
        try:
            status = await asyncio.wait_for(asyncio.shield(self._exited), EXIT_REPORT_WAIT_S)
        except TimeoutError:
            status = None
        return exit_failure(status, self._exit_error, self._oom_killed)

    # -- zygote reports ----------------------------------------------------------------------------------------

    def on_spawned(self, pid: int) -> None:
        self.pid = pid
        if self.lifecycle.state is State.STOPPED:
            self._kill()  # stopped before the zygote told us who it was

    def on_exit(self, status: int | None, error: str | None = None) -> None:
        self._exit_error = error
        if not self._exited.done():
            self._exited.set_result(status)
        if self._logs is not None:
            self._logs.close()
        self._oom_killed = self.runtime.limiter.oom_killed(self.id)  # read before release removes the cgroup
        self.runtime.limiter.release(self.id)
        if self.lifecycle.state is not State.STOPPED and (self._waiter is None or self._waiter.done()):
            self.stop()  # died while idle

    # -- channel (asyncio.Protocol) ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= protocol.HEADER.size:
            length, kind = protocol.HEADER.unpack_from(buffer)
            if length > protocol.MAX_FRAME or length < 1:
                self.stop()
                return
            end = 4 + length
            if len(buffer) < end:
                return
            body = bytes(buffer[protocol.HEADER.size:end])
            del buffer[:end]
            if kind not in _RESULTS or self._relay is not None:
                self._frame(kind, body)
                if self.lifecycle.state is State.STOPPED:
                    return
                continue
            if body[_FLAGS_AT] & protocol.LOGS_PENDING and self._logs is not None:
                self._logs.read()  # everything the worker wrote before this frame is in the pipe now
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result((kind, body))

    def _frame(self, kind: int, body: bytes) -> None:
        """Any frame but a plain invocation's result: Init's, and those of a streamed response."""
        relay = self._relay
        if kind in _STREAM_FRAMES:
            if kind == protocol.CHUNK and relay is not None and relay.open:
                relay.size += len(body)
                if relay.size > STREAMED_RESPONSE_LIMIT:
                    self._fail_now(_TOO_LARGE)
                else:
                    relay.stream.write(body)
            elif kind == protocol.CHUNK and relay is not None:
                pass  # output after the stream was cut off
            elif kind == protocol.HEAD and relay is None and self._stream is not None:
                self._start_relay(self._stream, body)
            elif kind == protocol.CANCELLED and relay is not None and relay.cancelled and not relay.answered:
                relay.answered = True
                if relay.final is not None:  # the CANCEL crossed the result: the invocation can end now
                    self._relay = None
                    self._deliver(*relay.final)
            else:
                self.stop()  # not what this protocol allows
            return
        if (kind not in _RESULTS or body[_FLAGS_AT] & protocol.LOGS_PENDING) and self._logs is not None:
            self._logs.read()  # everything the worker wrote before this frame is in the pipe now
        if relay is not None:  # the end of a streamed response
            relay.end(kind == protocol.RESULT)
            if relay.cancelled and not relay.answered:
                relay.final = (kind, body)  # the worker will read the CANCEL between invocations and answer it
                return
            self._relay = None
        self._deliver(kind, body)

    def _start_relay(self, stream: ResponseStream, body: bytes) -> None:
        assert self._transport is not None
        try:
            head = orjson.loads(body)
            status = int(head["status"])
            headers = [(str(name).encode("latin-1"), str(value).encode("latin-1")) for name, value in head["headers"]]
        except (ValueError, KeyError, TypeError):
            self.stop()
            return
        relay = self._relay = _Relay(stream, self._transport)
        stream.start(status, headers, relay)

    def _fail_now(self, kind: int) -> None:
        """End the invocation in flight with ``kind`` and stop the instance."""
        waiter = self._waiter
        self.stop()
        if waiter is not None and not waiter.done():
            waiter.set_result((kind, b""))

    def _deliver(self, kind: int, body: bytes) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((kind, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((_EOF, b""))
