"""The pool of one function version: warm reuse, cold starts within the concurrency limit, throttling, reaping.

Scheduling follows Lambda: a call takes the most recently used idle instance; when none is idle and the function
is under its limit a new instance is cold-started for it; at the limit the call is throttled at once. Every call,
throttled or not, leaves one ``InvocationRecord``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from hearth import errors
from hearth.model import FunctionSpec, InvocationRecord
from hearth.pool.instance import Instance, InvokeOutcome, InvokeRequest, Runtime, State

RecordSink = Callable[[InvocationRecord], None]


@dataclass(slots=True)
class Invocation:
    """The result of one call: a JSON payload or a failure, and the record of what happened."""

    record: InvocationRecord
    payload: bytes | None
    error: errors.FunctionFailure | None


class FunctionPool:
    """Owns the instances of one function version."""

    def __init__(self, spec: FunctionSpec, runtime: Runtime, *, default_limit: int, on_record: RecordSink,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.runtime = runtime
        self.default_limit = default_limit
        self.on_record = on_record
        self.clock = clock
        self.generation = 0
        self.idle: list[Instance] = []  # most recently used last
        self.live: set[Instance] = set()  # every instance not yet stopped, starting ones included
        self.closed = False

    @property
    def limit(self) -> int:
        return self.spec.concurrency if self.spec.concurrency is not None else self.default_limit

    async def invoke(self, request: InvokeRequest) -> Invocation:
        """Run ``request`` on a warm instance, or a cold one; raise ``TooManyRequests`` at the limit."""
        started = time.time()
        spec = self.spec
        if self.idle:
            instance = self.idle.pop()
            init_ms: float | None = None
            init_lines: tuple[str, ...] = ()
        else:
            if len(self.live) >= self.limit or self.closed:
                self._record_throttle(request, started)
                raise errors.TooManyRequests(
                    f"Rate exceeded: function {spec.name!r} is at its concurrency limit of {self.limit}; "
                    "retry later or raise `concurrency` in the manifest")
            instance = self.runtime.create(spec, self.generation)
            instance.on_stopped = self._forget
            self.live.add(instance)
            try:
                await instance.start()
            except errors.FunctionFailure as failure:
                instance.stop()
                return self._finish(request, started, spec, instance.init_ms, tuple(instance.init_log_lines),
                                    InvokeOutcome(None, failure, 0.0, 0, status="error"))
            except BaseException:
                instance.stop()
                raise
            init_ms = instance.init_ms
            init_lines = tuple(instance.init_log_lines)
        try:
            outcome = await instance.invoke(request, spec.timeout_s)
        except BaseException:
            instance.stop()
            raise
        self._release(instance)
        return self._finish(request, started, spec, init_ms, init_lines, outcome)

    def _release(self, instance: Instance) -> None:
        if instance.lifecycle.state is not State.IDLE:
            return
        if instance.generation != self.generation or self.closed:
            instance.stop()
        else:
            self.idle.append(instance)

    def _forget(self, instance: Instance) -> None:
        self.live.discard(instance)
        try:
            self.idle.remove(instance)
        except ValueError:
            pass

    def _finish(self, request: InvokeRequest, started: float, spec: FunctionSpec, init_ms: float | None,
                init_lines: tuple[str, ...], outcome: InvokeOutcome) -> Invocation:
        error = outcome.error
        billed = math.ceil(outcome.duration_ms + (init_ms or 0.0))
        record = InvocationRecord(
            request_id=request.request_id, function=spec.name, version=spec.version, trigger=request.trigger,
            start=started, duration_ms=outcome.duration_ms, billed_ms=max(billed, 1), memory_mb=spec.memory_mb,
            max_memory_mb=math.ceil(outcome.max_rss_kb / 1024), init_ms=init_ms, status=outcome.status,
            error_type=error.error_type if error is not None else None,
            log_lines=tuple(outcome.log_lines), init_log_lines=init_lines,
        )
        self.on_record(record)
        return Invocation(record, outcome.payload, error)

    def _record_throttle(self, request: InvokeRequest, started: float) -> None:
        self.on_record(InvocationRecord(
            request_id=request.request_id, function=self.spec.name, version=self.spec.version,
            trigger=request.trigger, start=started, duration_ms=0.0, billed_ms=0, memory_mb=self.spec.memory_mb,
            max_memory_mb=0, init_ms=None, status="throttled", error_type=errors.TooManyRequests.error_type,
        ))

    def update(self, spec: FunctionSpec) -> None:
        """New code or configuration: idle instances stop now, busy ones after their invocation."""
        self.spec = spec
        self.generation += 1
        for instance in list(self.idle):
            instance.stop()

    def reap(self, now: float | None = None) -> int:
        """Stop instances idle for longer than ``idle_timeout_s``; returns how many were stopped."""
        now = self.clock() if now is None else now
        cutoff = now - self.spec.idle_timeout_s
        stopped = 0
        while self.idle and self.idle[0].last_used <= cutoff:  # least recently used first
            self.idle.pop(0).stop()
            stopped += 1
        return stopped

    def close(self) -> None:
        """Stop every instance; busy ones are killed (their callers get an error)."""
        self.closed = True
        for instance in list(self.live):
            instance.stop()
