"""What the benchmarks share: starting Hearth and the bare uvicorn baseline, timing HTTP requests, statistics.

Every process is started with ``sys.executable`` and stopped by its own PID (SIGTERM, then SIGKILL after a
bound). Readiness is a line the process prints (the URLs), read with a deadline; nothing waits on a sleep.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
HTTP_TIMEOUT_S = 30.0
KEPT_LINES = 5000  # per process: enough to show what went wrong, bounded however chatty it is
HELLO_SOURCE = 'def handler(event, context):\n    return {"message": "hello"}\n'
PROBLEM = re.compile(r"error|exception|traceback|failed|warning", re.IGNORECASE)


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and a target was missed)."""


class Service:
    """A subprocess this benchmark started; threads drain its stdout and stderr so it never blocks on them."""

    def __init__(self, name: str, argv: Sequence[str], cwd: Path | None = None) -> None:
        self.name = name
        self.lines: list[tuple[str, str]] = []  # (stream, line), the first KEPT_LINES of them
        self._events: queue.Queue[tuple[str, str | None]] = queue.Queue(KEPT_LINES)
        self.process = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        assert self.process.stdout is not None and self.process.stderr is not None
        pipes = (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        self._threads = [threading.Thread(target=self._drain, args=(stream, pipe), daemon=True)
                         for stream, pipe in pipes]
        for thread in self._threads:
            thread.start()

    def _drain(self, stream: str, pipe: IO[str]) -> None:
        for line in pipe:
            line = line.rstrip("\n")
            if len(self.lines) < KEPT_LINES:
                self.lines.append((stream, line))
            self._offer((stream, line))
        self._offer((stream, None))

    def _offer(self, event: tuple[str, str | None]) -> None:
        try:
            self._events.put_nowait(event)
        except queue.Full:  # nobody is waiting on this output any more; ``lines`` keeps what matters
            pass

    def expect(self, stream: str, pattern: str, timeout_s: float = START_TIMEOUT_S) -> re.Match[str]:
        """The next line on ``stream`` matching ``pattern``; raise if the process ends or time runs out."""
        deadline = time.monotonic() + timeout_s
        closed: set[str] = set()
        while len(closed) < 2:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                source, line = self._events.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                closed.add(source)
                continue
            found = re.search(pattern, line) if source == stream else None
            if found is not None:
                return found
        if len(closed) == 2:
            why = f"exited (status {self.process.wait(STOP_GRACE_S)}) before printing {pattern!r}"
        else:
            why = f"printed no line matching {pattern!r} within {timeout_s:g} s"
        raise BenchError(f"{self.name} {why}; its output:\n{self.tail()}")

    def tail(self, count: int = 30) -> str:
        """Its last ``count`` lines of output, for an error message."""
        return "\n".join(f"  [{stream}] {line}" for stream, line in self.lines[-count:])

    def first(self, pattern: str) -> str | None:
        """The first line of its output (so far) that matches ``pattern``."""
        return next((line for _, line in self.lines if re.search(pattern, line)), None)

    def problems(self) -> list[str]:
        """Lines of its output that look like errors or warnings."""
        return [line for _, line in self.lines if PROBLEM.search(line)]

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it has not ended within ``STOP_GRACE_S``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_GRACE_S)
        for thread in self._threads:
            thread.join(STOP_GRACE_S)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_hearth(project: Path, extra: Sequence[str] = ()) -> tuple[Service, str, str]:
    """``hearth dev`` on free ports; returns it and the gateway and control URLs from its first two lines."""
    return start_platform("hearth", ["dev", str(project), "--no-watch", *extra])


def start_platform(name: str, command: Sequence[str]) -> tuple[Service, str, str]:
    """``hearth COMMAND`` (dev or serve) quiet on free ports; returns it and its gateway and control URLs."""
    argv = [sys.executable, "-m", "hearth", *command, "--host", HOST, "--port", "0", "--control-port", "0", "--quiet"]
    service = Service(name, argv)
    try:
        gateway = service.expect("stdout", r"^gateway: (http://\S+)$").group(1)
        control = service.expect("stdout", r"^control: (http://\S+)$").group(1)
    except BaseException:
        service.stop()
        raise
    return service, gateway, control


def start_bare_uvicorn() -> tuple[Service, str]:
    """The bare raw-ASGI hello app under uvicorn (uvloop, httptools) on a free port, and its URL."""
    argv = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(BENCH_DIR), "--host", HOST,
            "--port", "0", "--loop", "uvloop", "--http", "httptools", "--lifespan", "off", "--no-access-log",
            "--no-server-header", "--no-date-header", "--no-use-colors", "--log-level", "info"]
    service = Service("uvicorn", argv)
    try:
        url = service.expect("stderr", r"Uvicorn running on (http://\S+)").group(1)
    except BaseException:
        service.stop()
        raise
    return service, url


def write_project(root: Path, routes: dict[str, str], provided: dict[str, str] | None = None,
                  memory_mb: int | None = None, sandboxed: dict[str, str] | None = None,
                  sandbox_idle_s: float = 0.1) -> None:
    """A project folder with ``hello.py`` and one function per route (``{path: function name}``); ``provided``
    routes go to ``runtime = "provided"`` functions that run the folder's ``bootstrap``; ``sandboxed`` routes to
    hello functions with ``isolation = "sandbox"`` (idle for ``sandbox_idle_s`` before they are reaped);
    ``memory_mb`` sets the Python functions' memory (else the default, 128 MB)."""
    (root / "hello.py").write_text(HELLO_SOURCE, encoding="utf-8")
    lines = []
    for name in routes.values():
        lines += [f"[functions.{name}]", 'handler = "hello.handler"']
        lines += [f"memory_mb = {memory_mb}", ""] if memory_mb is not None else [""]
    for name in (provided or {}).values():
        lines += [f"[functions.{name}]", 'runtime = "provided.al2023"', ""]
    for name in (sandboxed or {}).values():
        lines += [f"[functions.{name}]", 'handler = "hello.handler"', 'isolation = "sandbox"',
                  f"idle_timeout_s = {sandbox_idle_s}", ""]
    routes = {**routes, **(provided or {}), **(sandboxed or {})}
    for path, name in routes.items():
        lines += ["[[routes]]", f'path = "{path}"', f'function = "{name}"', ""]
    (root / "hearth.toml").write_text("\n".join(lines), encoding="utf-8")


def build_go_bootstrap(target: Path) -> Path | None:
    """Build the Go Runtime API client the tests use (stdlib net/http only) into ``target``; None without Go."""
    go = shutil.which("go")
    if go is None:
        return None
    source = BENCH_DIR.parent / "tests" / "integration" / "projects" / "provided_go"
    cache = Path.home() / ".cache" / "hearth-tests" / "go"
    env = {**os.environ, "GOCACHE": str(cache / "build"), "GOPATH": str(cache / "path"), "CGO_ENABLED": "0",
           "GOPROXY": "off", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    done = subprocess.run([go, "build", "-o", str(target), "."], cwd=source, env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise BenchError(f"go build failed: {done.stderr}")
    return target


def add_hearth_options(parser: argparse.ArgumentParser) -> None:
    """Flags passed through to ``hearth dev``."""
    parser.add_argument("--memory-enforcement", choices=("auto", "cgroup", "rlimit"), default="auto",
                        help="passed to `hearth dev` (default: %(default)s)")
    parser.add_argument("--cpu-follows-memory", action=argparse.BooleanOptionalAction, default=True,
                        help="passed to `hearth dev`: each instance gets memory_mb/1769 of a core (default: on)")
    parser.add_argument("--instance-user", default="self", metavar="auto|self|UID[:GID]",
                        help="passed to `hearth dev`: auto runs each function under a uid of its own when root "
                             "(default: %(default)s, hearth dev's own)")


def hearth_args(args: argparse.Namespace) -> list[str]:
    """The ``hearth dev`` arguments for the flags ``add_hearth_options`` added."""
    cpu = "--cpu-follows-memory" if args.cpu_follows_memory else "--no-cpu-follows-memory"
    return ["--memory-enforcement", args.memory_enforcement, cpu, "--instance-user", args.instance_user]


def memory_enforcement(hearth: Service) -> str:
    """What Hearth said it uses to enforce memory limits."""
    line = hearth.first(r"memory limits: ")
    return line.split("memory limits: ", 1)[1] if line else "unknown (Hearth did not say)"


def cpu_shares(hearth: Service) -> str:
    """What Hearth said it uses to give instances their CPU share."""
    line = hearth.first(r"cpu shares: ")
    return line.split("cpu shares: ", 1)[1] if line else "unknown (Hearth did not say)"


CPUIDLE = Path("/sys/devices/system/cpu/cpuidle/current_driver")
HALT_POLL = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")


def idle_wakeups() -> str:
    """How this machine's idle CPUs wait, which sets what waking one costs: under a hypervisor's ``haltpoll``
    cpuidle driver with guest halt polling at 0 ns an idle vCPU halts at once, and waking it goes through the
    hypervisor (~100 µs on the project's VM). A one-connection request to Hearth wakes another process four times,
    to bare uvicorn twice, so the one-connection figures depend on this more than on Hearth's own work."""
    try:
        driver = CPUIDLE.read_text().strip()
    except OSError:
        return "unknown (no cpuidle driver is shown)"
    if driver != "haltpoll":
        return f"cpuidle driver {driver}"
    try:
        poll_ns = int(HALT_POLL.read_text())
    except (OSError, ValueError):
        return "cpuidle driver haltpoll, guest halt polling unknown"
    if poll_ns == 0:
        return ("cpuidle driver haltpoll with guest halt polling off (guest_halt_poll_ns = 0): an idle vCPU halts "
                "at once, and waking it goes through the hypervisor")
    return f"cpuidle driver haltpoll, an idle vCPU polls {poll_ns / 1000:g} µs before it halts"


def address(url: str) -> tuple[str, int]:
    """The host and port of an ``http://host:port`` URL."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise BenchError(f"not a host:port URL: {url}")
    return parts.hostname, parts.port


def fresh_get(url: str, path: str) -> tuple[int, float]:
    """GET ``path`` over a new connection that is closed after it; returns the status and the seconds taken
    from before connecting to the last byte of the response."""
    host, port = address(url)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_S)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return response.status, time.perf_counter() - started


def fresh_gets(url: str, paths: list[str], problems: list[str]) -> list[float]:
    """One fresh-connection GET per path: the seconds of each 2xx answer; the rest go to ``problems``."""
    timings = []
    for path in paths:
        try:
            status, seconds = fresh_get(url, path)
        except (OSError, http.client.HTTPException) as exc:
            problems.append(f"GET {path}: {type(exc).__name__}: {exc}")
            continue
        if 200 <= status < 300:
            timings.append(seconds)
        else:
            problems.append(f"GET {path}: HTTP {status}")
    return timings


def keepalive_gets(url: str, path: str, count: int) -> tuple[list[float], int]:
    """``count`` GETs one after another on one keep-alive connection; the seconds of each and how many
    answered something other than 2xx."""
    host, port = address(url)
    connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_S)
    timings: list[float] = []
    failures = 0
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            timings.append(time.perf_counter() - started)
            failures += not 200 <= response.status < 300
    finally:
        connection.close()
    return timings, failures


def get_json(url: str) -> dict[str, Any]:
    """GET a control API URL and decode its JSON object."""
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        value = json.loads(response.read())
    if not isinstance(value, dict):
        raise BenchError(f"{url} answered {value!r}, not a JSON object")
    return value


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100): a value that was actually observed."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def verdict(met: bool) -> str:
    """How a target reads in the report."""
    return "met" if met else "MISSED"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table, numbers right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
