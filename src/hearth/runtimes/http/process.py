"""One server process of an ``http`` function: started through the zygote, health-checked, stopped, reported on.

The zygote forks and execs the command (so the memory limit, the process group and the exit report work as for
every other instance) with ``{port}`` and ``$PORT`` set to a free loopback port. The instance is ready when its
health path answers 2xx or 3xx; it is polled with a short backoff, within ``startup_timeout_s``, and the wait
ends at once if the process exits. Many requests run on one process at a time: ``enter`` and ``leave`` count
them (the lifecycle is BUSY while any is in flight).

Output lines (fd 1 and 2, one pipe) are attributed to a request only when it was the only one in flight from its
start to its end: a concurrent server interleaves the lines of overlapping requests, and a wrong attribution is
worse than none. Every other line is reported as the instance's own output (``on_output``) — at once when no
request is in flight, else when the overlapping requests end. Lines written during start-up are the Init lines
of the request that started the process.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hearth import errors
from hearth.model import FunctionSpec
from hearth.pool.instance import InvokeOutcome, InvokeRequest, Lifecycle, State
from hearth.pool.limits.cgroups import open_joins
from hearth.runtimes.environment import function_environment, log_stream_name
from hearth.runtimes.http.client import ConnectionPool, get_status
from hearth.runtimes.logs import LogPipe
from hearth.runtimes.process import exit_failure, kill_group, peak_rss_kb, wait_status_text
from hearth.runtimes.python.sandbox import confine_exec

if TYPE_CHECKING:
    from hearth.runtimes.http.runtime import HttpRuntime

EXIT_REPORT_WAIT_S = 1.0  # after a broken connection: how long to wait for the zygote to say the process ended
STOP_GRACE_S = 2.0  # SIGTERM first (a server may flush its state), SIGKILL after this
FIRST_POLL_S = 0.005
MAX_POLL_S = 0.1
PROBE_TIMEOUT_S = 2.0
MEMORY_READ_EVERY_S = 1.0
OutputSink = Callable[["ServerProcess", list[str]], None]
_PORT_WORD = re.compile(r"\{port\}|\$\{PORT\}|\$PORT\b")  # no shell runs the command: Hearth fills these in


class _Logs(LogPipe):
    """The server's output pipe; lines that arrive while no request is in flight are the instance's own."""

    __slots__ = ("owner",)

    def __init__(self, fd: int, owner: ServerProcess) -> None:
        self.owner = owner
        super().__init__(fd)

    def read(self) -> None:
        super().read()
        if self.lines and self.owner.in_flight == 0 and self.owner.lifecycle.state is State.IDLE:
            self.owner.emit(self.end_phase(drain=False))


def resolve_command(spec: FunctionSpec, port: int, path_env: str) -> list[str]:
    """The argv to exec: ``{port}`` (and ``$PORT``) filled in, the program found (a path relative to the code
    folder, or a name on ``PATH``); raises ``ServerEntrypointError`` when it cannot be run."""
    assert spec.server is not None
    argv = [_PORT_WORD.sub(str(port), word) for word in spec.server.command]
    program = argv[0]
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else spec.code_dir / program
        if not path.is_file():
            raise errors.ServerEntrypointError(
                f"Cannot start {spec.name}: {program!r} does not exist in {spec.code_dir}; fix `command` in the "
                "manifest")
        if not os.access(path, os.X_OK):
            raise errors.ServerEntrypointError(
                f"Cannot start {spec.name}: {path} is not executable; run `chmod +x {program}`")
        argv[0] = str(path)
        return argv
    found = shutil.which(program, path=path_env)
    if found is None:
        raise errors.ServerEntrypointError(
            f"Cannot start {spec.name}: command {program!r} is not on PATH ({path_env}); give its path in `command`")
    argv[0] = found
    return argv


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """One running server of one function version; the pool's ``Instance`` for the ``http`` runtime."""

    def __init__(self, runtime: HttpRuntime, spec: FunctionSpec, instance_id: int, generation: int) -> None:
        assert spec.server is not None
        self.runtime = runtime
        self.spec = spec
        self.server = spec.server
        self.id = instance_id
        self.generation = generation
        self.lifecycle = Lifecycle()
        self.last_used = time.monotonic()
        self.pid: int | None = None
        self.port = 0
        self.init_ms: float | None = None
        self.init_log_lines: list[str] = []
        self.on_stopped: Callable[[Any], None] | None = None
        self.on_output: OutputSink | None = None
        self.connections: ConnectionPool | None = None
        self.in_flight = 0
        self.retired = False  # its version's code changed: stop once the requests in flight have ended
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int | None] = self._loop.create_future()
        self._exit_error: str | None = None
        self._oom_killed = False
        self._logs: _Logs | None = None
        self._alone: object | None = None  # the token of the one request in flight, while it is alone
        self._kill_timer: asyncio.TimerHandle | None = None
        self._memory_mb = 0
        self._memory_read_at = 0.0

    @property
    def state(self) -> State:
        return self.lifecycle.state

    @property
    def ready(self) -> bool:
        return self.lifecycle.state is State.IDLE or self.lifecycle.state is State.BUSY

    @property
    def exited(self) -> bool:
        return self._exited.done()

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the server and wait until it is healthy; raises ``ServerStartFailure`` (and ends STOPPED)."""
        self.lifecycle.to(State.INITIALIZING)
        started = time.perf_counter()
        python = self.runtime.python
        env = self._environment(python.base_env)
        self.port = free_port()
        env["PORT"] = str(self.port)
        try:
            env.update(python.secret_env(self.spec, self.id))
            argv = resolve_command(self.spec, self.port, env.get("PATH", os.defpath))
            zygote = await python.zygote_for(self.spec)
        except errors.HearthError:
            self.stop()
            raise
        child: dict[str, Any] = {"argv": argv, "env": env, "cwd": str(self.spec.code_dir)}
        sandboxed = self.spec.isolation == "sandbox"
        child.update(python.limiter.prepare(self.id, self.spec.memory_mb, None if sandboxed else self.spec.name,
                                           str(self.spec.code_dir)))
        joins: list[int] = []
        if sandboxed:
            try:
                joins = open_joins(confine_exec(child, self.spec.code_dir))  # its way into its cgroups
            except errors.HearthError:
                self.stop()
                raise
        log_read, log_write = os.pipe()
        try:
            zygote.execute(self, child, log_write, joins)
        except BaseException:
            os.close(log_read)
            python.limiter.release(self.id)
            self.stop()
            raise
        finally:
            os.close(log_write)
            for fd in joins:
                os.close(fd)
        self._logs = _Logs(log_read, self)
        try:
            await self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        finally:
            self.init_ms = (time.perf_counter() - started) * 1000.0
            self.init_log_lines = self._logs.end_phase()
        python.limiter.started(self.id, self.spec.memory_mb)
        self.connections = ConnectionPool(self.port, max_idle=self.server.max_concurrency)
        self.last_used = time.monotonic()
        self.lifecycle.to(State.IDLE)

    def _environment(self, base: Mapping[str, str]) -> dict[str, str]:
        env = function_environment(self.spec, base, log_stream_name(self.spec))
        env["AWS_EXECUTION_ENV"] = "Hearth_http"
        env.update(self.spec.env)
        return env

    async def _wait_healthy(self) -> None:
        """Poll the health path until it answers 2xx/3xx; stop early if the process exits."""
        server = self.server
        deadline = time.monotonic() + server.startup_timeout_s
        delay = FIRST_POLL_S
        last = "it never accepted a connection"
        while True:
            if self._exited.done():
                raise errors.ServerExited(self._start_failure(f"exited before it was healthy "
                                                              f"({self._exit_text()})"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise errors.ServerStartTimeout(self._start_failure(
                    f"did not answer GET {server.health_path} with 2xx/3xx on port {self.port} within "
                    f"{server.startup_timeout_s:g} s ({last}); make it listen on $PORT (or {{port}} in `command`), "
                    "or raise startup_timeout_s"))
            status = await get_status(self.port, server.health_path, min(remaining, PROBE_TIMEOUT_S))
            if status is not None and 200 <= status < 400:
                return
            if status is not None:
                last = f"its last answer was {status}"
            remaining = deadline - time.monotonic()
            await asyncio.wait([self._exited], timeout=max(0.0, min(delay, remaining)))
            delay = min(delay * 2, MAX_POLL_S)

    def _start_failure(self, what: str) -> str:
        tail = self._logs.tail() if self._logs is not None else ""
        output = f"; its last output:\n{tail}" if tail else "; it wrote no output"
        return f"The server of {self.spec.name} ({' '.join(self.server.command)}) {what}{output}"

    def _exit_text(self) -> str:
        status = self._exited.result() if self._exited.done() else None
        if status is None:
            return self._exit_error or "unknown status"
        return wait_status_text(status)

    def stop(self) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after ``STOP_GRACE_S``; idempotent."""
        if self.lifecycle.state is State.STOPPED:
            return
        self.lifecycle.to(State.STOPPED)
        if self.connections is not None:
            self.connections.close()
        self._signal(signal.SIGTERM)
        if not self._exited.done():
            self._kill_timer = self._loop.call_later(STOP_GRACE_S, self.kill)
        if self.on_stopped is not None:
            self.on_stopped(self)

    def kill(self) -> None:
        """SIGKILL the process group now."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if not self._exited.done():
            kill_group(self.pid, signum)

    async def wait_exited(self, timeout_s: float) -> bool:
        """Wait until the process has ended (at most ``timeout_s``); whether it has."""
        if not self._exited.done():
            await asyncio.wait([self._exited], timeout=timeout_s)
        return self._exited.done()

    def retire(self) -> None:
        """Its version's code changed: stop now if idle, else once the requests in flight have ended."""
        self.retired = True
        if self.in_flight == 0:
            self.stop()

    async def invoke(self, request: InvokeRequest, timeout_s: float) -> InvokeOutcome:
        """A server takes HTTP requests, not events (the platform refuses the call before it gets here)."""
        raise errors.InvalidParameterValue(
            f"function {self.spec.name} runs an HTTP server; call it through the gateway")

    # -- requests -------------------------------------------------------------------------------------------------

    def enter(self) -> object:
        """A request starts; returns its token for ``leave``."""
        token = object()
        if self.in_flight == 0:
            self._alone = token
            if self.lifecycle.state is State.IDLE:
                self.lifecycle.to(State.BUSY)
        else:
            self._alone = None
        self.in_flight += 1
        return token

    def leave(self, token: object) -> list[str]:
        """A request ended; returns its output lines (none unless it was alone in flight throughout)."""
        self.in_flight -= 1
        self.last_used = time.monotonic()
        alone = self._alone is token
        if alone:
            self._alone = None
        lines: list[str] = []
        logs = self._logs
        if logs is not None:
            if alone:  # drain the pipe (a syscall): what it wrote before answering is all there
                lines = logs.end_phase()
            elif logs.lines:  # overlapping requests: the lines the loop has read so far, without a syscall
                self.emit(logs.end_phase(drain=False))
        if self.in_flight == 0:
            if self.lifecycle.state is State.BUSY:
                self.lifecycle.to(State.IDLE)
            if self.retired:
                self.stop()
        return lines

    def line_times(self) -> list[float]:
        """When each line ``leave`` last returned was read (the times of its lines, see ``LogPipe``)."""
        return self._logs.last_times if self._logs is not None else []

    def emit(self, lines: list[str]) -> None:
        """Report lines that belong to no single request."""
        if lines and self.on_output is not None:
            self.on_output(self, lines)

    async def failure(self, timed_out: bool, timeout_s: float) -> tuple[errors.FunctionFailure, str]:
        """Why a request's connection broke, and the record status: the deadline, the process's end (waited for
        up to ``EXIT_REPORT_WAIT_S``), or the server closing it while it runs on."""
        if timed_out:
            return errors.Timedout(f"Task timed out after {timeout_s:.2f} seconds"), "timeout"
        if await self.wait_exited(EXIT_REPORT_WAIT_S):
            failure = exit_failure(self._exited.result(), self._exit_error, self._oom_killed)
            return failure, "oom" if isinstance(failure, errors.OutOfMemory) else "crash"
        return errors.ServerConnectionError(
            f"The server of {self.spec.name} closed the connection without a complete response; see its output "
            "in the log"), "error"

    def max_memory_mb(self) -> int:
        """The server process's peak resident memory (read from /proc at most once a second)."""
        now = time.monotonic()
        if self.pid is not None and now - self._memory_read_at >= MEMORY_READ_EVERY_S:
            self._memory_read_at = now
            peak_kb = peak_rss_kb(self.pid)
            if peak_kb:
                self._memory_mb = -(-peak_kb // 1024)
        return self._memory_mb

    # -- zygote reports ----------------------------------------------------------------------------------------

    def on_spawned(self, pid: int) -> None:
        self.pid = pid
        if self.lifecycle.state is State.STOPPED:
            self.kill()  # stopped before the zygote told us who it was

    def on_exit(self, status: int | None, error: str | None = None) -> None:
        self._exit_error = error
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        limiter = self.runtime.python.limiter
        self._oom_killed = limiter.oom_killed(self.id)  # read before release removes the cgroup
        limiter.release(self.id)
        self.runtime.exited(self)
        if not self._exited.done():
            self._exited.set_result(status)
        was_running = self.lifecycle.state is not State.STOPPED
        logs = self._logs
        if logs is not None:
            logs.close()  # during start-up its lines stay for the Init lines and the error's tail
            if self.lifecycle.state is not State.INITIALIZING:
                if was_running:
                    logs.lines.append(f"[hearth] the server of {self.spec.name} exited: {self._exit_text()}")
                if self.in_flight == 0:
                    self.emit(logs.end_phase(drain=False))  # else the requests in flight take them in ``leave``
        if was_running and self.lifecycle.state is not State.INITIALIZING:
            self.stop()  # crashed: the next request starts a new process
