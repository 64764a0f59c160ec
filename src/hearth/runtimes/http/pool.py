"""The server of one ``http`` function version: started on the first request, shared by many, stopped when idle.

One process per function version, never more (except while a replaced one finishes its requests): servers are
often stateful — an SQLite file, sessions in memory, a cache warmed by earlier requests — and two copies of one
would disagree. Scale comes from ``max_concurrency`` requests in flight to that one process.

- **Start** is single-flight: concurrent first requests wait for the same start; the one that began it carries
  the Init duration and lines in its record. A failed start answers every waiting request with the failure
  (503) and the next request tries again.
- **Concurrency.** Each request takes one unit of the platform's ``Concurrency`` (reserved concurrency, the
  account limit: 429 at once), then a slot of the version's ``max_concurrency``; without a free slot it waits
  in a bounded queue (``max_concurrency`` long, ``QUEUE_WAIT_S``), then is throttled (429).
- **Crash.** A process that ends on its own is forgotten; the next request starts a new one. **Idle.** No request
  for ``idle_timeout_s``: the process is stopped (``reap``, from the platform's reaper). **Code change**
  (``update``): the process is retired — stopped at once if idle, else after its last request; new requests go
  to a new process.
- Every request leaves one ``InvocationRecord`` (trigger ``http``); a WebSocket connection leaves one when it ends.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hearth import errors
from hearth.asgi import Receive, Scope, Send
from hearth.billing.prices import Billing
from hearth.model import FunctionSpec, InvocationRecord
from hearth.pool.concurrency import Concurrency
from hearth.pool.instance import InvokeRequest, State
from hearth.pool.pool import Invocation
from hearth.runtimes.http.process import ServerProcess
from hearth.runtimes.http.proxy import FinishHeaders, Outcome, forward
from hearth.runtimes.http.websocket import forward_upgrade, upgrade_requested
from hearth.telemetry.records import InstanceOutput, RecordLog

if TYPE_CHECKING:
    from hearth.runtimes.http.runtime import HttpRuntime

log = logging.getLogger("hearth.http")
QUEUE_WAIT_S = 1.0
RETRY_PROVISION_S = 5.0
START_ATTEMPTS = 3


class ServerPool:
    """Owns the server process of one ``http`` function version (see the module docstring)."""

    def __init__(self, spec: FunctionSpec, runtime: HttpRuntime, *, concurrency: Concurrency, records: RecordLog,
                 clock: Callable[[], float] = time.monotonic, billing: Billing = Billing()) -> None:
        assert spec.server is not None
        self.spec = spec
        self.billing = billing
        self.runtime = runtime
        self.concurrency = concurrency
        self.records = records
        self.clock = clock
        self.generation = 0
        self.current: ServerProcess | None = None
        self.live: set[ServerProcess] = set()  # the current process, one starting, retired ones still draining
        self.closed = False
        self.provisioned_target = 0  # > 0: keep the server running (started ahead of traffic, never reaped)
        self.provision_error: str | None = None
        self.in_flight = 0  # requests holding one of the ``max_concurrency`` slots (handed-over ones too)
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._starting: asyncio.Task[ServerProcess] | None = None
        self._provision_retry_at = 0.0

    @property
    def provisioned(self) -> set[ServerProcess]:
        return {self.current} if self.provisioned_target and self.current is not None else set()

    @property
    def provisioned_ready(self) -> int:
        """The provisioned count, once the server it keeps running is up (one server serves them all)."""
        current = self.current
        return self.provisioned_target if current is not None and current.ready else 0

    async def invoke(self, request: InvokeRequest) -> Invocation:
        """The Lambda Invoke API cannot call a server."""
        raise errors.InvalidParameterValue(
            f"function {self.spec.name} runs an HTTP server (runtime \"http\"); it takes HTTP requests, not events: "
            "call it through the gateway (a route in the manifest)")

    # -- serving ---------------------------------------------------------------------------------------------

    async def serve(self, scope: Scope, receive: Receive, send: Send, request_id: str,
                    finish: FinishHeaders, trace_id: str | None = None) -> None:
        """Proxy one HTTP request, or an upgraded connection (a WebSocket) for as long as it lasts; raises the
        ``HearthError`` to answer with when no response was started."""
        # One coroutine from here to the proxy, with the common case (a slot free, the server running) taken
        # without a wait: each await and each frame between the gateway and the socket is paid per request.
        started_at = time.time()
        begun = time.perf_counter()
        function = self.spec.name
        self._acquire(request_id, started_at)
        instance: ServerProcess | None = None
        token: object = None
        init_ms: float | None = None
        init_lines: tuple[str, ...] = ()
        try:
            if not self._take_slot():
                try:
                    await self._wait_slot()
                except errors.TooManyRequests:
                    self._record_throttle(request_id, started_at)
                    raise
            try:
                instance = self.current
                if instance is None or not instance.ready or instance.retired:
                    instance, init_ms, init_lines = await self._instance()
                token = instance.enter()
                if upgrade_requested(scope) is None:
                    outcome = await forward(instance, scope, receive, send, request_id, finish, self.spec.timeout_s)
                else:
                    outcome = await forward_upgrade(instance, scope, receive, send, request_id, finish)
            except errors.FunctionFailure as failure:  # the server could not be started
                outcome = Outcome("error", failure)
            finally:
                lines = instance.leave(token) if instance is not None and token is not None else []
                self._free_slot()
        finally:
            self.concurrency.release(function)
        self._record(request_id, started_at, begun, instance, init_ms, init_lines, lines, outcome, trace_id)
        if outcome.error is not None and not outcome.started:
            raise outcome.error

    def _acquire(self, request_id: str, started_at: float) -> None:
        """Take a unit of the platform's concurrency, or throttle."""
        function = self.spec.name
        if self.closed or not self.concurrency.try_acquire(function):
            self._record_throttle(request_id, started_at)
            raise errors.TooManyRequests(
                f"Rate exceeded: function {function!r} is at its concurrency limit of "
                f"{self.concurrency.limit_of(function)}; retry later or raise `concurrency` in the manifest")

    def _take_slot(self) -> bool:
        """Take one of the ``max_concurrency`` slots if one is free and nobody waits for one."""
        server = self.spec.server
        if self.in_flight < (server.max_concurrency if server is not None else 1) and not self._waiting:
            self.in_flight += 1
            return True
        return False

    async def _wait_slot(self) -> None:
        """Wait for one of the ``max_concurrency`` slots in a bounded queue, for a short while."""
        limit = self.spec.server.max_concurrency if self.spec.server is not None else 1
        if len(self._waiting) >= limit:
            raise self._too_many(limit)
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await asyncio.wait([waiter], timeout=QUEUE_WAIT_S)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()  # it was handed a slot: pass it on
            else:
                self._drop_waiter(waiter)
            raise
        if not waiter.done():
            self._drop_waiter(waiter)
            raise self._too_many(limit)

    def _drop_waiter(self, waiter: asyncio.Future[None]) -> None:
        waiter.cancel()
        try:
            self._waiting.remove(waiter)
        except ValueError:
            pass

    def _too_many(self, limit: int) -> errors.TooManyRequests:
        return errors.TooManyRequests(
            f"Rate exceeded: the server of {self.spec.name!r} has {limit} requests in flight (its max_concurrency) "
            f"and {len(self._waiting)} waiting; retry later or raise max_concurrency in the manifest")

    def _free_slot(self) -> None:
        """Give a slot back: to the longest-waiting request if there is one (it stays counted), else free it."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1

    async def _instance(self) -> tuple[ServerProcess, float | None, tuple[str, ...]]:
        """The running server, started (single-flight) if need be; the Init duration and lines come with it
        for the request that started it."""
        for _ in range(START_ATTEMPTS):
            current = self.current
            if current is not None and current.ready and not current.retired:
                return current, None, ()
            task = self._starting
            mine = task is None
            if task is None:
                task = self._starting = asyncio.get_running_loop().create_task(self._start())
                task.add_done_callback(_retrieve)
            instance = await asyncio.shield(task)
            if instance.ready and not instance.retired:
                return (instance, instance.init_ms, tuple(instance.init_log_lines)) if mine else (instance, None, ())
        raise errors.ServerExited(f"The server of {self.spec.name} stopped right after it started, "
                                  f"{START_ATTEMPTS} times; see its output in the log")

    async def _start(self) -> ServerProcess:
        instance = self.runtime.create(self.spec, self.generation)
        instance.on_stopped = self._forget
        instance.on_output = self._output
        self.live.add(instance)
        try:
            await instance.start()
        finally:
            self._starting = None
        if instance.generation != self.generation or self.closed:
            instance.retire()  # replaced or closed while it started
        else:
            self.current = instance
        return instance

    def _forget(self, instance: ServerProcess) -> None:
        self.live.discard(instance)
        if self.current is instance:
            self.current = None

    def _output(self, instance: ServerProcess, lines: list[str]) -> None:
        self.records.add_output(InstanceOutput(self.spec.name, instance.spec.version, instance.id, tuple(lines)))

    # -- records -----------------------------------------------------------------------------------------------

    def _record(self, request_id: str, started_at: float, begun: float, instance: ServerProcess | None,
                init_ms: float | None, init_lines: tuple[str, ...], lines: list[str], outcome: Outcome,
                trace_id: str | None = None) -> None:
        duration_ms = (time.perf_counter() - begun) * 1000.0 - (init_ms or 0.0)
        error = outcome.error
        self.records.add(InvocationRecord(
            request_id=request_id, function=self.spec.name, version=self.spec.version, trigger="http",
            start=started_at, duration_ms=max(duration_ms, 0.0),
            billed_ms=self.billing.billed_ms(duration_ms, init_ms), memory_mb=self.spec.memory_mb,
            max_memory_mb=instance.max_memory_mb() if instance is not None else 0, init_ms=init_ms,
            status=outcome.status, error_type=error.error_type if error is not None else None,
            log_lines=tuple(lines), init_log_lines=init_lines, trace_id=trace_id,
            log_times=tuple(instance.line_times()) if lines and instance is not None else ()))

    def _record_throttle(self, request_id: str, started_at: float) -> None:
        self.records.add(InvocationRecord(
            request_id=request_id, function=self.spec.name, version=self.spec.version, trigger="http",
            start=started_at, duration_ms=0.0, billed_ms=0, memory_mb=self.spec.memory_mb, max_memory_mb=0,
            init_ms=None, status="throttled", error_type=errors.TooManyRequests.error_type))

    # -- what the platform calls (the same as on a FunctionPool) ------------------------------------------------

    def update(self, spec: FunctionSpec) -> None:
        """New code or configuration: the running server is retired; the next request starts a new one."""
        self.spec = spec
        self.generation += 1
        current, self.current = self.current, None
        if current is not None:
            current.retire()

    def reap(self, now: float | None = None) -> int:
        """Stop the server if no request reached it for ``idle_timeout_s`` (not when provisioned)."""
        current = self.current
        if current is None or self.provisioned_target or current.lifecycle.state is not State.IDLE:
            return 0
        now = self.clock() if now is None else now
        if current.last_used > now - self.spec.idle_timeout_s:
            return 0
        current.stop()
        return 1

    def set_provisioned(self, count: int) -> None:
        """Keep the server running while ``count`` > 0 (one process, whatever the count)."""
        self.provisioned_target = count
        self.provision_error = None
        self._provision_retry_at = 0.0

    def provision(self) -> int:
        """Start the server ahead of traffic when it is provisioned and not running; returns how many started."""
        if (not self.provisioned_target or self.closed or self.current is not None or self._starting is not None
                or self.clock() < self._provision_retry_at):
            return 0
        task = self._starting = asyncio.get_running_loop().create_task(self._start())
        task.add_done_callback(self._provisioned)
        return 1

    def _provisioned(self, task: asyncio.Task[ServerProcess]) -> None:
        if task.cancelled():
            return
        failure = task.exception()
        if failure is None:
            self.provision_error = None
            return
        self._provision_retry_at = self.clock() + RETRY_PROVISION_S
        if isinstance(failure, errors.HearthError):
            self.provision_error = f"{failure.error_type}: {failure.message}"
        log.warning("the provisioned server of %s:%s did not start: %s", self.spec.name, self.spec.version,
                    failure)

    def close(self) -> None:
        """Stop every process of this version; requests in flight get an error."""
        self.closed = True
        self.current = None
        for instance in list(self.live):
            instance.stop()


def _retrieve(task: asyncio.Task[ServerProcess]) -> None:
    """Mark a start's failure as seen: every waiting request has it, or nobody was left to."""
    if not task.cancelled():
        task.exception()
