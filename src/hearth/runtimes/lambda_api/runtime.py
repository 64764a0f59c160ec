"""The ``provided`` runtime: instances that run the function's own ``bootstrap`` and talk the Runtime API.

    start()  ── exec bootstrap ──▶  first GET /next  = Init done (its Init Duration)   ── or POST /init/error,
                                                                                          exit, or 10 s ──▶ failed
    invoke() ── answer the pending GET /next with the event ──▶ POST /{id}/response | /{id}/error | exit | timeout

The bootstrap is started by the zygote (``exec``), so it gets the same memory limit, process group and exit
report as a Python instance; its fd 1 and 2 are a ``LogPipe``. Out-of-order calls get the Runtime API's errors:
an unknown request id is ``400 InvalidRequestID``, a second answer to one invocation or an init error after Init
is ``403 InvalidStateTransition``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.ids import new_trace_id
from hearth.model import BOOTSTRAP, FunctionSpec
from hearth.pool.deadlines import DeadlineSweep
from hearth.pool.instance import InvokeOutcome, InvokeRequest, Lifecycle, State
from hearth.pool.limits.cgroups import open_joins
from hearth.runtimes.environment import function_environment, log_stream_name
from hearth.runtimes.lambda_api.server import MAX_BODY, Reply, listen
from hearth.runtimes.logs import LogPipe
from hearth.runtimes.process import exit_failure, kill_group, peak_rss_kb
from hearth.runtimes.python.instance import EXIT_REPORT_WAIT_S, INIT_TIMEOUT_S
from hearth.runtimes.python.sandbox import confine_exec

if TYPE_CHECKING:
    from hearth.runtimes.python.runtime import PythonRuntime

_READY = "ready"


class ProvidedRuntime:
    """Creates ``provided`` instances; the Python runtime's zygote starts their processes."""

    name = "provided"

    def __init__(self, host: PythonRuntime) -> None:
        self.host = host
        self.deadlines = DeadlineSweep()

    def create(self, spec: FunctionSpec, generation: int, *, provisioned: bool = False) -> ProvidedInstance:
        return ProvidedInstance(self, spec, self.host.new_instance_id(), generation, provisioned)

    async def close(self) -> None:
        pass  # the pools stop the instances; the zygote belongs to the Python runtime


def find_bootstrap(spec: FunctionSpec) -> Path:
    """The executable to run: the file ``handler`` names if the package has it, else ``bootstrap``."""
    root = spec.code_dir
    named = root / spec.handler
    if spec.handler != BOOTSTRAP and named.is_file() and _inside(named, root):
        candidate = named
    else:
        candidate = root / BOOTSTRAP
    if not candidate.is_file():
        raise errors.InvalidEntrypoint(
            f"Couldn't find valid bootstrap(s): [{candidate}]; a provided function's package holds an executable "
            f"named {BOOTSTRAP!r} at its root (or set handler to the path of another one)")
    if not os.access(candidate, os.X_OK):
        raise errors.InvalidEntrypoint(f"{candidate} is not executable: chmod +x it before packaging")
    return candidate


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


class ProvidedInstance:
    """One bootstrap process and its Runtime API endpoint; see ``hearth.pool.instance.Instance``."""

    def __init__(self, runtime: ProvidedRuntime, spec: FunctionSpec, instance_id: int, generation: int,
                 provisioned: bool) -> None:
        self.runtime = runtime
        self.spec = spec
        self.id = instance_id
        self.generation = generation
        self.provisioned = provisioned
        self.lifecycle = Lifecycle()
        self.last_used = time.monotonic()
        self.pid: int | None = None
        self.init_ms: float | None = None
        self.init_log_lines: list[str] = []
        self.on_stopped: Callable[[Any], None] | None = None
        self._loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._logs: LogPipe | None = None
        self._exited: asyncio.Future[int | None] = self._loop.create_future()
        self._exit_error: str | None = None
        self._oom_killed = False
        self._initialized = False
        self._started = 0.0
        # What the instance waits for: Init's end, or the current invocation's outcome.
        self._waiter: asyncio.Future[tuple[str, Any]] | None = None
        self._next: Reply | None = None  # the runtime's pending GET /next
        self._request: InvokeRequest | None = None  # the invocation in flight
        self._delivered = 0.0  # when the runtime received it (0: not yet, or already answered)
        self._deadline_ms = 0
        self._duration_ms = 0.0
        self._answered: set[str] = set()  # request ids already answered (a second answer is a state error)

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.lifecycle.to(State.INITIALIZING)
        spec = self.spec
        host = self.runtime.host
        try:
            bootstrap = find_bootstrap(spec)
            secret_env = host.secret_env(spec, self.id)
        except errors.HearthError:  # also a secret that does not decrypt (ServiceError)
            self.stop()
            raise
        try:
            zygote = await host.zygote_for(spec)
        except errors.HearthError:  # SandboxUnavailable
            self.stop()
            raise
        self._server = await listen(self)
        port = self._server.sockets[0].getsockname()[1]
        env = function_environment(spec, host.base_env, log_stream_name(spec), provisioned=self.provisioned)
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{port}"
        env.update(spec.env)
        env.update(secret_env)
        child: dict[str, Any] = {"argv": [str(bootstrap)], "env": env, "cwd": str(spec.code_dir)}
        sandboxed = spec.isolation == "sandbox"
        child.update(host.limiter.prepare(self.id, spec.memory_mb, None if sandboxed else spec.name,
                                          str(spec.code_dir)))
        joins: list[int] = []
        if sandboxed:
            try:
                joins = open_joins(confine_exec(child, spec.code_dir))  # its way into its cgroups
            except errors.HearthError:
                self.stop()
                raise
        log_read, log_write = os.pipe()
        try:
            zygote.execute(self, child, log_write, joins)
        finally:
            os.close(log_write)
            for fd in joins:
                os.close(fd)
        logs = self._logs = LogPipe(log_read)
        self._started = time.perf_counter()
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(INIT_TIMEOUT_S, self.expire)
        try:
            kind, detail = await waiter
        finally:
            timer.cancel()
        self._waiter = None
        if kind == _READY:
            self.init_log_lines = logs.end_phase()
            host.limiter.started(self.id, spec.memory_mb)
            self.lifecycle.to(State.IDLE)
            return
        if kind == "exit":
            detail = await self._exit_failure("Runtime exited without providing a reason")
        self.stop()
        self.init_log_lines = logs.end_phase()
        if self.init_ms is None:
            self.init_ms = (time.perf_counter() - self._started) * 1000.0
        if kind == "timeout":
            raise errors.Timedout(f"Init timed out after {INIT_TIMEOUT_S:.2f} seconds")
        raise detail

    async def invoke(self, request: InvokeRequest, timeout_s: float) -> InvokeOutcome:
        self.lifecycle.to(State.BUSY)
        assert self._logs is not None
        self._request = request
        self._duration_ms = 0.0
        waiter = self._waiter = self._loop.create_future()
        deadline_ms = int((time.time() + timeout_s) * 1000)
        if self._next is not None:
            self._deliver(self._next, deadline_ms)
        else:
            self._deadline_ms = deadline_ms
        deadlines = self.runtime.deadlines
        deadlines.add(self, timeout_s)
        try:
            kind, detail = await waiter
            delivered = bool(self._delivered) or kind != "exit"
        finally:
            deadlines.discard(self)
            if self._delivered:  # ended without an answer (exit, timeout): it ran until now
                self._duration_ms = (time.perf_counter() - self._delivered) * 1000.0
            self._waiter = None
            self._request = None
            self._delivered = 0.0
        self.last_used = time.monotonic()
        outcome = await self._outcome(kind, detail, self._duration_ms, timeout_s)
        outcome.delivered = delivered  # False: the runtime exited before it asked for this invocation
        outcome.log_lines = self._logs.end_phase()
        outcome.log_times = self._logs.last_times
        return outcome

    async def _outcome(self, kind: str, detail: Any, duration_ms: float, timeout_s: float) -> InvokeOutcome:
        if kind == "response":
            self.lifecycle.to(State.IDLE)
            return InvokeOutcome(detail, None, duration_ms, peak_rss_kb(self.pid))
        if kind == "error":  # reported by the runtime, which goes on to its next invocation, as on Lambda
            self.lifecycle.to(State.IDLE)
            return InvokeOutcome(None, detail, duration_ms, peak_rss_kb(self.pid), status="error")
        if kind == "timeout":
            timed_out = errors.Timedout(f"Task timed out after {timeout_s:.2f} seconds")
            return InvokeOutcome(None, timed_out, timeout_s * 1000.0, 0, status="timeout")
        failure = await self._exit_failure("Runtime exited without providing a reason")
        status = "oom" if isinstance(failure, errors.OutOfMemory) else "crash"
        return InvokeOutcome(None, failure, duration_ms, 0, status=status)

    def stop(self) -> None:
        if self.lifecycle.state is State.STOPPED:
            return
        self.lifecycle.to(State.STOPPED)
        self._kill()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._next is not None:
            self._next.send(500, b'{"errorType":"Runtime.Stopped","errorMessage":"the instance is stopping"}')
            self._next = None
        if self.pid is None and not self._exited.done():  # never spawned: nothing will report an exit
            self._release()
        if self.on_stopped is not None:
            self.on_stopped(self)

    def expire(self) -> None:
        """Init or the invocation ran past its deadline: kill the instance."""
        waiter = self._waiter
        self.stop()
        if waiter is not None and not waiter.done():
            if self._logs is not None:
                self._logs.read()
            waiter.set_result(("timeout", None))

    def _kill(self) -> None:
        kill_group(self.pid)

    async def _exit_failure(self, default: str) -> errors.FunctionFailure:
        self.stop()
        try:
            status = await asyncio.wait_for(asyncio.shield(self._exited), EXIT_REPORT_WAIT_S)
        except TimeoutError:
            status = None
        return exit_failure(status, self._exit_error, self._oom_killed, clean_exit=default)

    # -- zygote reports ----------------------------------------------------------------------------------------

    def on_spawned(self, pid: int) -> None:
        self.pid = pid
        if self.lifecycle.state is State.STOPPED:
            self._kill()

    def on_exit(self, status: int | None, error: str | None = None) -> None:
        self._exit_error = error
        if not self._exited.done():
            self._exited.set_result(status)
        if self._logs is not None:
            self._logs.close()
        self._oom_killed = self.runtime.host.limiter.oom_killed(self.id)
        self._release()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(("exit", None))
        elif self.lifecycle.state is not State.STOPPED:
            self.stop()  # died while idle

    def _release(self) -> None:
        self.runtime.host.limiter.release(self.id)

    # -- the Runtime API (RuntimeApiHandler) ---------------------------------------------------------------------

    def next_invocation(self, reply: Reply) -> None:
        if self.lifecycle.state is State.STOPPED:
            reply.error(500, "Runtime.Stopped", "the instance is stopping")
            return
        if self._delivered:
            reply.error(403, "InvalidStateTransition", "an invocation is in progress: post its response or error "
                                                       "before asking for the next one")
            return
        if not self._initialized:
            self._initialized = True
            self.init_ms = (time.perf_counter() - self._started) * 1000.0
            self._settle((_READY, None))
        if self._request is not None:
            self._deliver(reply, self._deadline_ms)
        else:
            self._next = reply

    def _deliver(self, reply: Reply, deadline_ms: int) -> None:
        request = self._request
        assert request is not None
        self._next = None
        headers = [
            ("Content-Type", "application/json"),
            ("Lambda-Runtime-Aws-Request-Id", request.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", self.spec.arn),
            ("Lambda-Runtime-Trace-Id", request.trace_id or new_trace_id()),
        ]
        if request.client_context is not None:
            headers.append(("Lambda-Runtime-Client-Context", request.client_context))
        self._delivered = time.perf_counter()
        reply.send(200, orjson.dumps(request.event), headers)

    def invocation_response(self, request_id: str, body: bytes, too_large: bool, reply: Reply) -> None:
        if not self._current(request_id, reply):
            return
        if too_large:
            reply.error(413, "RequestEntityTooLarge",
                        f"Exceeded maximum allowed payload size ({MAX_BODY} bytes).")
            self._settle(("error", errors.response_too_large(MAX_BODY)))
            return
        reply.accepted()
        self._settle(("response", body))

    def invocation_error(self, request_id: str, body: bytes, error_type: str | None, reply: Reply) -> None:
        if not self._current(request_id, reply):
            return
        reply.accepted()
        self._settle(("error", _reported_failure(body, error_type)))

    def init_error(self, body: bytes, error_type: str | None, reply: Reply) -> None:
        if self._initialized or self.lifecycle.state is not State.INITIALIZING:
            reply.error(403, "InvalidStateTransition", "Init has already completed; report errors of an "
                                                       "invocation to /runtime/invocation/{id}/error")
            return
        reply.accepted()
        self._initialized = True
        self.init_ms = (time.perf_counter() - self._started) * 1000.0
        self._settle(("init_error", _reported_failure(body, error_type)))

    def _current(self, request_id: str, reply: Reply) -> bool:
        """Whether ``request_id`` is the invocation in flight; answers the runtime's mistake when it is not."""
        request = self._request
        if request is not None and request.request_id == request_id and self._delivered:
            self._answered.add(request_id)
            if len(self._answered) > 64:
                self._answered = {request_id}
            return True
        if request_id in self._answered:
            reply.error(403, "InvalidStateTransition", f"invocation {request_id} has already been answered")
        else:
            reply.error(400, "InvalidRequestID", f"{request_id} is not the invocation in progress")
        return False

    def _settle(self, result: tuple[str, Any]) -> None:
        if self._delivered:  # an answer to the invocation: it is over, whatever the runtime asks next
            self._duration_ms = (time.perf_counter() - self._delivered) * 1000.0
            self._delivered = 0.0
            self._request = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._logs is not None:
                self._logs.read()  # what the runtime wrote before this call is in the pipe now
            waiter.set_result(result)


def _reported_failure(body: bytes, error_type: str | None) -> errors.FunctionFailure:
    """The failure a runtime reported: its ErrorRequest body, or just the error type header (Lambda's default)."""
    try:
        report = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        report = None
    if not isinstance(report, dict) or not (report.get("errorType") or report.get("errorMessage")):
        text = body.decode("utf-8", "replace").strip()
        report = {"errorType": error_type or "Runtime.Unknown", "errorMessage": text}
    return errors.function_failure(report)
