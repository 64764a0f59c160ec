"""The pool of one function version: warm reuse, cold starts within the concurrency limit, throttling, reaping,
and provisioned instances.

Scheduling follows Lambda: a call first takes an idle provisioned instance, then the most recently used idle
on-demand one; when none is idle a new instance is cold-started for it. Concurrency (invocations in flight, shared
with the function's other versions and the whole platform) is taken before and given back after; at the limit
the call is throttled at once. Every call, throttled or not, leaves one ``InvocationRecord``.

Provisioned instances (``set_provisioned``) are started ahead of traffic by ``provision()``, are never reaped
for idleness, and are replaced when they die.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from hearth import errors
from hearth.billing.prices import Billing
from hearth.model import FunctionSpec, InvocationRecord
from hearth.pool.concurrency import Concurrency
from hearth.pool.instance import Instance, InvokeOutcome, InvokeRequest, Runtime, State

log = logging.getLogger("hearth.pool")
PROVISION_RETRY_S = 5.0  # after a provisioned instance failed its Init, wait this long before trying again
RecordSink = Callable[[InvocationRecord], None]


@dataclass(slots=True)
class Invocation:
    """The result of one call: a JSON payload or a failure, and the record of what happened."""

    record: InvocationRecord
    payload: bytes | None
    error: errors.FunctionFailure | None


class FunctionPool:
    """Owns the instances of one function version."""

    def __init__(self, spec: FunctionSpec, runtime: Runtime, *, concurrency: Concurrency, on_record: RecordSink,
                 clock: Callable[[], float] = time.monotonic, billing: Billing = Billing()) -> None:
        self.spec = spec
        self.billing = billing  # the billed duration the records carry (and the meter counts)
        self.runtime = runtime
        self.concurrency = concurrency
        self.on_record = on_record
        self.clock = clock
        self.generation = 0
        self.idle: list[Instance] = []  # on-demand, most recently used last
        self.live: set[Instance] = set()  # every instance not yet stopped, starting ones included
        self.closed = False
        self.provisioned_target = 0
        self.provisioned: set[Instance] = set()  # live provisioned instances, starting ones included
        self.idle_provisioned: list[Instance] = []
        self.provision_error: str | None = None  # why the last provisioned Init failed, until one succeeds
        self._provision_retry_at = 0.0

    @property
    def provisioned_ready(self) -> int:
        """Provisioned instances that have finished Init (idle or busy)."""
        return sum(1 for instance in self.provisioned if instance.lifecycle.state in (State.IDLE, State.BUSY))

    async def invoke(self, request: InvokeRequest) -> Invocation:
        """Run ``request`` on a warm instance, or a cold one; raise ``TooManyRequests`` at the limit."""
        started = time.time()
        spec = self.spec
        function = spec.name
        if self.closed or not self.concurrency.try_acquire(function):
            self._record_throttle(request, started)
            raise errors.TooManyRequests(
                f"Rate exceeded: function {function!r} is at its concurrency limit of "
                f"{self.concurrency.limit_of(function)}; retry later or raise `concurrency` in the manifest")
        try:
            for attempt in range(2):  # a second go only for a call a warm instance died before taking
                init_ms: float | None = None
                init_lines: tuple[str, ...] = ()
                warm = bool(self.idle_provisioned or self.idle)
                if self.idle_provisioned:
                    instance = self.idle_provisioned.pop()
                elif self.idle:
                    instance = self.idle.pop()
                else:
                    instance = self.runtime.create(spec, self.generation)
                    instance.on_stopped = self._forget
                    self.live.add(instance)
                    try:
                        await instance.start()
                    except errors.FunctionFailure as failure:
                        instance.stop()
                        return self._finish(request, started, spec, instance.init_ms,
                                            tuple(instance.init_log_lines),
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
                if not outcome.delivered and warm and attempt == 0:
                    instance.stop()
                    continue  # it exited while idle, before the call reached it: nothing ran
                self._release(instance)
                return self._finish(request, started, spec, init_ms, init_lines, outcome)
            raise AssertionError("unreachable: the second attempt returns or raises")
        finally:
            self.concurrency.release(function)

    def _release(self, instance: Instance) -> None:
        if instance.lifecycle.state is not State.IDLE:
            return
        if instance.generation != self.generation or self.closed:
            instance.stop()
        elif instance in self.provisioned:
            self.idle_provisioned.append(instance)
        else:
            self.idle.append(instance)

    def _forget(self, instance: Instance) -> None:
        self.live.discard(instance)
        for idle in (self.idle, self.idle_provisioned):
            try:
                idle.remove(instance)
            except ValueError:
                pass
        self.provisioned.discard(instance)

    # -- provisioned concurrency -----------------------------------------------------------------------------

    def set_provisioned(self, count: int) -> None:
        """Keep ``count`` instances initialized; extra idle provisioned instances stop now."""
        self.provisioned_target = count
        self.provision_error = None
        self._provision_retry_at = 0.0
        while len(self.provisioned) > count and self.idle_provisioned:
            self.idle_provisioned.pop(0).stop()
        surplus = len(self.provisioned) - count
        for instance in list(self.provisioned)[:max(surplus, 0)]:  # busy: on-demand from now on, reaped as such
            self.provisioned.discard(instance)

    def provision(self) -> int:
        """Start instances until the provisioned target is met (Init runs in the background); returns how many."""
        if self.closed or self.clock() < self._provision_retry_at:
            return 0
        missing = self.provisioned_target - len(self.provisioned)
        for _ in range(missing):
            instance = self.runtime.create(self.spec, self.generation, provisioned=True)
            instance.on_stopped = self._forget
            self.live.add(instance)
            self.provisioned.add(instance)
            asyncio.get_running_loop().create_task(self._initialize(instance))
        return max(missing, 0)

    async def _initialize(self, instance: Instance) -> None:
        try:
            await instance.start()
        except errors.FunctionFailure as failure:
            instance.stop()
            self.provision_error = f"{failure.error_type}: {failure.message}"
            self._provision_retry_at = self.clock() + PROVISION_RETRY_S
            log.warning("provisioned instance of %s:%s failed its Init: %s", self.spec.name, self.spec.version,
                        self.provision_error)
            return
        except Exception:
            instance.stop()
            log.exception("provisioned instance of %s:%s could not start", self.spec.name, self.spec.version)
            self._provision_retry_at = self.clock() + PROVISION_RETRY_S
            return
        self.provision_error = None
        self._release(instance)

    def _finish(self, request: InvokeRequest, started: float, spec: FunctionSpec, init_ms: float | None,
                init_lines: tuple[str, ...], outcome: InvokeOutcome) -> Invocation:
        error = outcome.error
        billed = self.billing.billed_ms(outcome.duration_ms, init_ms)
        record = InvocationRecord(
            request_id=request.request_id, function=spec.name, version=spec.version, trigger=request.trigger,
            start=started, duration_ms=outcome.duration_ms, billed_ms=billed, memory_mb=spec.memory_mb,
            max_memory_mb=math.ceil(outcome.max_rss_kb / 1024), init_ms=init_ms, status=outcome.status,
            error_type=error.error_type if error is not None else None,
            log_lines=tuple(outcome.log_lines), init_log_lines=init_lines, trace_id=request.trace_id,
            alias=request.alias, log_times=tuple(outcome.log_times),
        )
        self.on_record(record)
        return Invocation(record, outcome.payload, error)

    def _record_throttle(self, request: InvokeRequest, started: float) -> None:
        self.on_record(InvocationRecord(
            request_id=request.request_id, function=self.spec.name, version=self.spec.version,
            trigger=request.trigger, start=started, duration_ms=0.0, billed_ms=0, memory_mb=self.spec.memory_mb,
            max_memory_mb=0, init_ms=None, status="throttled", error_type=errors.TooManyRequests.error_type,
            trace_id=request.trace_id, alias=request.alias,
        ))

    def update(self, spec: FunctionSpec) -> None:
        """New code or configuration: idle instances stop now, busy ones after their invocation."""
        self.spec = spec
        self.generation += 1
        for instance in [*self.idle, *self.idle_provisioned]:
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
