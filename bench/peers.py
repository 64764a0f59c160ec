"""The same hello on Hearth and on its peers, in one run on this machine: warm throughput and latency, and the first
call (cold start) of serverless-offline.

Servers, each answering GET /hello with a small JSON body:

  bare uvicorn          a raw-ASGI app under uvicorn (uvloop, httptools): the floor for a Python HTTP stack here.
  Hearth                ``hearth dev``, a Python 3.11 function ``hello`` at --memory-mb (default 1769: one whole
                        core, as CPU follows memory; see throughput.py).
  functions-framework   Google's Functions Framework for Python (PyPI ``functions-framework``, its default gunicorn
                        server), ``--target hello``, run with this interpreter (``sys.executable -m``).
  serverless-offline    npm ``serverless@3`` + ``serverless-offline@13`` (the last line that supports serverless 3),
                        installed once into ~/.cache/hearth-bench/serverless; a ``python3.11`` function behind an
                        ``httpApi`` route; telemetry, notifications and deprecation notices off; every port on
                        127.0.0.1. serverless-offline starts ``python3`` from PATH: a folder put first on its PATH
                        maps that name to this interpreter (Python 3.11).

Measured, one server at a time while the others sit idle:

  (a) serverless-offline first call: --cold-n functions ``f0..`` behind their own routes; the first GET of each over
      a new connection (before connect to the last byte): it starts a Python process for the function.
      p50/p99, to set beside Hearth's cold start (coldstart.py).
  (b) after an untimed 2 s wrk warm-up at 64 connections: wrk -t2 -c64 -d{--duration}s and wrk -t1 -c1
      -d{--duration}s --latency: requests/s, latency p50/p99, errors (non-2xx/3xx and socket errors).

A peer that cannot be installed or started is reported as "not run: why" and the rest still run. Markdown goes to
stdout; ``--json PATH`` writes the figures for bench/run_all.py.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    HOST,
    BenchError,
    Service,
    add_hearth_options,
    fresh_get,
    fresh_gets,
    hearth_args,
    markdown_table,
    percentile,
    start_bare_uvicorn,
    start_hearth,
    write_project,
)
from throughput import WHOLE_CORE_MB, run_wrk

SLS_CACHE = Path.home() / ".cache" / "hearth-bench" / "serverless"
SLS_PACKAGES = ("serverless@3", "serverless-offline@13")
NPM_TIMEOUT_S = 600
SLS_START_TIMEOUT_S = 90.0
READY_TIMEOUT_S = 30.0
WARMUP_S = 2
SLS_ENV = {"SLS_TELEMETRY_DISABLED": "1", "SLS_TRACKING_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off",
           "SLS_DEPRECATION_DISABLE": "*", "SLS_DISABLE_AUTO_UPDATE": "1", "SLS_INTERACTIVE_SETUP_DISABLE": "1",
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}
SERVERS = ("bare uvicorn", "Hearth", "functions-framework", "serverless-offline")
FF_SOURCE = 'def hello(request):\n    return {"message": "hello"}\n'
SLS_SOURCE = 'import json\n\n\ndef hello(event, context):\n    return {"statusCode": 200, "headers": ' \
             '{"content-type": "application/json"}, "body": json.dumps({"message": "hello"})}\n'


def free_port() -> int:
    """A port the kernel says is free now (closed again before the peer binds it: a small race, fine here)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_http(url: str, service: Service, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll ``url`` until it answers 2xx (for a server that prints no readiness line), bounded in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise BenchError(f"{service.name} exited ({service.process.returncode}):\n{service.tail()}")
        try:
            if 200 <= fresh_get(url, "/hello")[0] < 300:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)  # a poll interval, not synchronisation: the answer decides
    raise BenchError(f"{service.name} did not answer {url}/hello within {timeout_s:g} s:\n{service.tail()}")


def start_functions_framework(folder: Path) -> tuple[Service, str]:
    """functions-framework serving ``hello`` from ``folder``/main.py on a free port."""
    try:
        import functions_framework  # noqa: F401
    except ImportError:
        raise BenchError("functions-framework is not installed (pip install 'functions-framework>=3.5,<4')") from None
    (folder / "main.py").write_text(FF_SOURCE)
    port = free_port()
    argv = [sys.executable, "-m", "functions_framework", "--target", "hello", "--source", str(folder / "main.py"),
            "--host", HOST, "--port", str(port)]
    service = Service("functions-framework", argv, cwd=folder)
    url = f"http://{HOST}:{port}"
    try:
        wait_http(url, service)
    except BaseException:
        service.stop()
        raise
    return service, url


def install_serverless() -> Path:
    """serverless@3 and serverless-offline@13 in the cache folder (npm install once); their node_modules."""
    modules = SLS_CACHE / "node_modules"
    if (modules / "serverless" / "bin" / "serverless.js").exists() and (modules / "serverless-offline").exists():
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BenchError("node and npm are not installed")
    SLS_CACHE.mkdir(parents=True, exist_ok=True)
    print(f"peers: npm install {' '.join(SLS_PACKAGES)} into {SLS_CACHE} ...", file=sys.stderr, flush=True)
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", *SLS_PACKAGES], cwd=SLS_CACHE,
                          capture_output=True, text=True, timeout=NPM_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise BenchError(f"npm install failed: {done.stderr[-1500:]}")
    return modules


def serverless_yml(ports: dict[str, int], functions: list[str]) -> str:
    """The service: loopback-only serverless-offline, one python3.11 function per name behind GET /name."""
    lines = ["service: hearthbench", "frameworkVersion: '3'", "provider:", "  name: aws", "  runtime: python3.11",
             "  region: us-east-1", "plugins:", "  - serverless-offline", "custom:", "  serverless-offline:",
             f"    host: {HOST}", f"    httpPort: {ports['http']}", f"    lambdaPort: {ports['lambda']}",
             f"    websocketPort: {ports['websocket']}", "    noPrependStageInUrl: true", "functions:"]
    for name in functions:
        lines += [f"  {name}:", "    handler: handler.hello", "    events:", "      - httpApi:",
                  f"          path: /{name}", "          method: get"]
    return "\n".join(lines) + "\n"


def start_serverless_offline(folder: Path, functions: list[str]) -> tuple[Service, str]:
    """``serverless offline start`` in ``folder`` serving ``functions``; it and its URL."""
    modules = install_serverless()
    (folder / "node_modules").symlink_to(modules)
    (folder / "handler.py").write_text(SLS_SOURCE)
    ports = {"http": free_port(), "lambda": free_port(), "websocket": free_port()}
    (folder / "serverless.yml").write_text(serverless_yml(ports, functions))
    shims = folder / "bin"
    shims.mkdir()
    (shims / "python3").symlink_to(sys.executable)  # it runs "python3.11".split(".")[0] from PATH
    node = shutil.which("node")
    assert node is not None  # install_serverless checked
    env_prefix = [f"PATH={shims}{os.pathsep}{os.environ.get('PATH', '')}",
                  *(f"{key}={value}" for key, value in SLS_ENV.items())]
    argv = ["env", *env_prefix, node, str(modules / "serverless" / "bin" / "serverless.js"), "offline", "start"]
    service = Service("serverless-offline", argv, cwd=folder)
    try:
        url = service.expect("stderr", r"Server ready: (http://\S+)", SLS_START_TIMEOUT_S).group(1)
    except BaseException:
        service.stop()
        raise
    return service, url


def measure(name: str, url: str, duration: int) -> dict[str, Any]:
    """(b) for one server: the warm-up, then wrk at 64 and at 1 connection."""
    print(f"peers: {name}: wrk warm-up, -c1, -c64 ...", file=sys.stderr, flush=True)
    run_wrk(url + "/hello", WARMUP_S, 2, 64)
    one = run_wrk(url + "/hello", duration, 1, 1)  # first: a peer that falls behind at 64 is not measured at 1
    return {"c1": one, "c64": run_wrk(url + "/hello", duration, 2, 64)}


def run_peer(name: str, start: Callable[[], tuple[Service, str]], duration: int,
             before: Callable[[str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Start one server, measure it, stop it; ``{"status": "not run: why"}`` if it could not be."""
    try:
        service, url = start()
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        print(f"peers: {name} not run: {exc}", file=sys.stderr)
        return {"status": f"not run: {str(exc).splitlines()[0][:200]}"}
    try:
        with service:
            result: dict[str, Any] = {"status": "ok"}
            if before is not None:
                result.update(before(url))
            result.update(measure(name, url, duration))
    except (BenchError, OSError, http.client.HTTPException) as exc:
        print(f"peers: {name} failed: {exc}", file=sys.stderr)
        return {"status": f"not run: {str(exc).splitlines()[0][:200]}"}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each timed wrk run (%(default)s)")
    parser.add_argument("--cold-n", type=int, default=20, help="serverless-offline first calls (%(default)s)")
    parser.add_argument("--memory-mb", type=int, default=WHOLE_CORE_MB, help="Hearth hello's memory_mb")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--only", action="append", choices=SERVERS, help="measure only this server (repeatable)")
    add_hearth_options(parser)
    args = parser.parse_args()
    wanted = set(args.only or SERVERS)
    if min(args.duration, args.cold_n) < 1:
        parser.error("--duration and --cold-n must be at least 1")
    if shutil.which("wrk") is None:
        print("peers: wrk is not installed (Debian package `wrk`)", file=sys.stderr)
        return 1
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-bench-peers-") as scratch:
        root = Path(scratch)
        for folder in ("hearth", "ff", "sls"):
            (root / folder).mkdir()
        write_project(root / "hearth", {"/hello": "hello"}, memory_mb=args.memory_mb)

        def hearth() -> tuple[Service, str]:
            service, gateway, _control = start_hearth(root / "hearth", hearth_args(args))
            return service, gateway

        sls_names = [f"f{i}" for i in range(args.cold_n)]
        cold_paths = [f"/{name}" for name in sls_names]

        def sls_cold(url: str) -> dict[str, Any]:
            print(f"peers: serverless-offline: {args.cold_n} first calls ...", file=sys.stderr, flush=True)
            problems: list[str] = []
            timings = fresh_gets(url, cold_paths, problems)
            return {"cold": {"p50": percentile(timings, 50), "p99": percentile(timings, 99), "n": len(timings),
                             "problems": problems[:5]}}

        starts: dict[str, tuple[Callable[[], tuple[Service, str]], Callable[[str], dict[str, Any]] | None]] = {
            "bare uvicorn": (start_bare_uvicorn, None), "Hearth": (hearth, None),
            "functions-framework": (lambda: start_functions_framework(root / "ff"), None),
            "serverless-offline": (lambda: start_serverless_offline(root / "sls", ["hello", *sls_names]), sls_cold)}
        for name in SERVERS:
            start, before = starts[name]
            results[name] = run_peer(name, start, args.duration, before) if name in wanted else {
                "status": "not run: left out (--only)"}
    print(f"# Peers: hello on each, wrk -t2 -c64 and -t1 -c1, {args.duration} s each\n")
    rows = []
    for name, result in results.items():
        if result["status"] != "ok":
            rows.append([name, result["status"], "", "", "", "", "", ""])
            continue
        c64, c1 = result["c64"], result["c1"]
        rows.append([name, f"{c64['rps']:.0f}", f"{c64['p50'] * 1e3:.2f}", f"{c64['p99'] * 1e3:.2f}",
                     f"{c1['rps']:.0f}", f"{c1['p50'] * 1e3:.2f}", f"{c1['p99'] * 1e3:.2f}",
                     f"{c64['non2xx'] + c64['socket_errors'] + c1['non2xx'] + c1['socket_errors']:.0f}"])
    print(markdown_table(["server", "req/s (64 conn)", "p50 ms", "p99 ms", "req/s (1 conn)", "p50 ms", "p99 ms",
                          "errors"], rows))
    cold = results["serverless-offline"].get("cold")
    if cold:
        print(f"\nserverless-offline first call ({cold['n']} functions): p50 {cold['p50'] * 1e3:.1f} ms, "
              f"p99 {cold['p99'] * 1e3:.1f} ms; problems: {cold['problems'] or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
