"""The ``http`` runtime's reverse proxy: one small fast server measured directly and through Hearth in one run.

The backend (``--backend``) is ``http_backend.js`` (Node's own ``http`` module) or ``bare_app.py`` under uvicorn
(uvloop, httptools), both answering a small JSON body — the worst case for a proxy, whose cost is then most of
the work — or ``json-server`` (an unmodified npm application on Express, answering GET /posts/1 from its JSON
file: a small real application): first on its own, then as the ``http`` function behind
Hearth's gateway (``/hello`` → the same server, started by Hearth on the first request). When nginx is installed
(Debian package ``nginx-light``), the same backend is also measured behind nginx — one worker process (Hearth's
gateway is one process too), upstream keep-alive, no access log — as the reference for what a reverse proxy costs
on this machine (``--no-nginx`` leaves it out). For each, in turn and never overlapping:

  (a) wrk -t{--threads} -c{--connections} -d{--duration}s --latency, after an untimed 2 s warm-up (which, for
      Hearth, also starts the server): requests/s, latency p50/p99. Target: through Hearth >= 60% of direct.
  (b) one connection: a Python http.client keep-alive loop of --requests GETs after 200 warm-up ones, timed per
      request: p50/p99, and the latency the proxy adds (Hearth p50 − direct p50).
  (c) CPU time per request of the Hearth process (gateway + proxy) and of the backend over the timed wrk run,
      from /proc/PID/stat.

A missed target is printed as MISSED; the exit status is non-zero only when the benchmark could not run. wrk,
the gateway and the server share the machine's CPUs, so the ratio is the point, not the absolute numbers.
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
import urllib.request
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    BenchError,
    Service,
    add_hearth_options,
    get_json,
    hearth_args,
    keepalive_gets,
    markdown_table,
    memory_enforcement,
    percentile,
    start_bare_uvicorn,
    start_hearth,
    verdict,
)
from throughput import WARMUP_REQUESTS, WARMUP_S, record_statuses, run_wrk, us

TARGET_RPS_RATIO = 0.60
BACKEND = BENCH_DIR / "http_backend.js"
NGINX_CONF = """
worker_processes 1;
master_process off;
daemon off;
pid {scratch}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    upstream backend {{ server {backend}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""
JSON_DB = {"posts": [{"id": 1, "title": "hello", "author": "hearth"}]}


def backend_path(backend: str) -> str:
    return "/posts/1" if backend == "json-server" else "/hello"


def backend_command(backend: str, node: str | None, scratch: Path) -> list[str]:
    """The backend's command line, with ``{port}`` where its port goes."""
    if backend == "node":
        assert node is not None
        return [node, str(BACKEND), "{port}"]
    if backend == "json-server":
        assert node is not None
        database = scratch / "db.json"
        database.write_text(json.dumps(JSON_DB), encoding="utf-8")
        return [node, str(json_server_script()), "--host", "127.0.0.1", "--port", "{port}", "--quiet", str(database)]
    return [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(BENCH_DIR), "--host", "127.0.0.1",
            "--port", "{port}", "--loop", "uvloop", "--http", "httptools", "--lifespan", "off", "--no-access-log",
            "--no-server-header", "--no-date-header", "--log-level", "warning"]


def json_server_script() -> Path:
    """json-server's CLI, installed (pinned) the way the tests install it, under ~/.cache/hearth-tests."""
    sys.path.insert(0, str(BENCH_DIR.parent / "tests" / "integration"))
    from http_tools import json_server  # noqa: PLC0415  (a test helper: only this backend needs it)

    try:
        return json_server()[1]
    except Exception as exc:  # the helper skips (a pytest outcome) when node or npm is missing
        raise BenchError(f"json-server is not available: {exc}") from None


def start_backend(backend: str, node: str | None, scratch: Path) -> tuple[Service, str]:
    """The backend on its own on a free port, and its URL."""
    if backend == "uvicorn":
        return start_bare_uvicorn()
    if backend == "json-server":
        with socket.socket() as probe:  # json-server prints the port it was given, not the one it got
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [word.replace("{port}", str(port)) for word in backend_command(backend, node, scratch)]
        service = Service("json-server backend", command)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_answers(url + backend_path(backend))
        except BaseException:
            service.stop()
            raise
        return service, url
    service = Service("node backend", [word.replace("{port}", "0") for word in backend_command(backend, node, scratch)])
    try:
        url = service.expect("stdout", r"listening on (http://\S+)").group(1)
    except BaseException:
        service.stop()
        raise
    return service, url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_nginx(nginx: str, backend_url: str, scratch: Path) -> tuple[Service, str]:
    """nginx (one worker, no master) proxying to ``backend_url``, and its URL."""
    port = free_port()
    conf = scratch / "nginx.conf"
    conf.write_text(NGINX_CONF.format(scratch=scratch, backend=backend_url.removeprefix("http://"), port=port),
                    encoding="utf-8")
    service = Service("nginx", [nginx, "-p", str(scratch), "-c", str(conf), "-e", "stderr"])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(url + "/")
    except BaseException:
        service.stop()
        raise
    return service, url


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, url: str, path: str, args: argparse.Namespace, pids: dict[str, int | None]) -> dict[str, Any]:
    """wrk warm-up, the timed wrk run (with the CPU time of ``pids`` over it), then the one-connection loop."""
    print(f"{name}: wrk warm-up {WARMUP_S} s, wrk {args.duration} s, {args.requests} keep-alive GETs ...",
          file=sys.stderr, flush=True)
    warmup = run_wrk(url + path, WARMUP_S, args.threads, args.connections)
    found = {label: pid() if callable(pid) else pid for label, pid in pids.items()}
    before = {label: cpu_seconds(pid) for label, pid in found.items() if pid is not None}
    wrk = run_wrk(url + path, args.duration, args.threads, args.connections)
    cpu = {label: (cpu_seconds(found[label]) - seconds) / max(wrk["requests"], 1)  # type: ignore[arg-type]
           for label, seconds in before.items()}
    keepalive_gets(url, path, WARMUP_REQUESTS)
    timings, failures = keepalive_gets(url, path, args.requests)
    return {"wrk": wrk, "warmup": warmup, "one_p50": percentile(timings, 50), "one_p99": percentile(timings, 99),
            "one_failures": failures, "cpu": cpu}


def server_pid(control: str) -> int | None:
    """The pid of the server Hearth started for ``hello``."""
    instances = get_json(f"{control}/hearth/instances")["instances"]
    return next((i["pid"] for i in instances if i["function"] == "hello"), None)


def wait_until_answers(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"{url} did not answer within {timeout_s:g} s") from None
            time.sleep(0.05)


def write_project(root: Path, command: list[str], max_concurrency: int, path: str) -> None:
    """A project whose ``hello`` function is the backend, run by the ``http`` runtime."""
    (root / "hearth.toml").write_text(f"""
[functions.hello]
runtime = "http"
command = {json.dumps(command)}
max_concurrency = {max_concurrency}
idle_timeout_s = 3600

[[routes]]
path = "{path}"
function = "hello"
""", encoding="utf-8")


def report(direct: dict[str, Any], proxied: dict[str, Any], reference: dict[str, Any] | None, facts: dict[str, Any],
           args: argparse.Namespace) -> None:
    wrk_flags = f"-t{args.threads} -c{args.connections} -d{args.duration}s"
    print(f"# http runtime: a {args.backend} server directly vs through Hearth's gateway (wrk {wrk_flags})\n")
    print(f"Hearth memory enforcement: {facts['enforcement']}\n")
    results = [("direct", direct)] + ([("through nginx", reference)] if reference else []) + [
        ("through Hearth", proxied)]
    rows = []
    for label, result in results:
        wrk = result["wrk"]
        rows.append([label, f"{wrk['rps']:.0f}", f"{wrk['p50'] * 1e3:.2f}", f"{wrk['p99'] * 1e3:.2f}",
                     f"{wrk['requests']:.0f}", f"{wrk['non2xx']:.0f}", f"{wrk['socket_errors']:.0f}"])
    print(markdown_table(["server", "requests/s", "p50 ms", "p99 ms", "requests", "non-2xx/3xx",
                          "socket errors"], rows) + "\n")
    ratio = proxied["wrk"]["rps"] / direct["wrk"]["rps"]
    print(f"Throughput through Hearth / direct: {ratio:.0%} (target >= {TARGET_RPS_RATIO:.0%}) "
          f"{verdict(ratio >= TARGET_RPS_RATIO)}")
    if reference:
        nginx_ratio = reference["wrk"]["rps"] / direct["wrk"]["rps"]
        print(f"Throughput through nginx / direct: {nginx_ratio:.0%}; Hearth / nginx: "
              f"{proxied['wrk']['rps'] / reference['wrk']['rps']:.0%}")
    added_wrk = (proxied["wrk"]["p50"] - direct["wrk"]["p50"]) * 1e3
    print(f"Added p50 under load: {added_wrk:.2f} ms")
    cpu = ", ".join(f"{label} {seconds * 1e6:.0f} µs" for label, seconds in proxied["cpu"].items())
    print(f"CPU per request through Hearth: {cpu}; the backend alone: {direct['cpu']['backend'] * 1e6:.0f} µs")
    if reference:
        cpu = ", ".join(f"{label} {seconds * 1e6:.0f} µs" for label, seconds in reference["cpu"].items())
        print(f"CPU per request through nginx: {cpu}")
    print()
    print(f"## One connection, keep-alive, {args.requests} GETs after {WARMUP_REQUESTS} warm-up\n")
    print(markdown_table(["server", "p50 µs", "p99 µs", "non-2xx"], [
        [label, us(result["one_p50"]), us(result["one_p99"]), result["one_failures"]]
        for label, result in results]))
    added = (proxied["one_p50"] - direct["one_p50"]) * 1e6
    added_p99 = (proxied["one_p99"] - direct["one_p99"]) * 1e6
    print(f"\nAdded latency through Hearth: p50 {added:.0f} µs, p99 {added_p99:.0f} µs")
    if reference:
        print(f"Added latency through nginx: p50 {(reference['one_p50'] - direct['one_p50']) * 1e6:.0f} µs, "
              f"p99 {(reference['one_p99'] - direct['one_p99']) * 1e6:.0f} µs")
    print()
    print(f"Hearth records (newest <= 10000): {dict(facts['statuses'])}")
    print(f"Hearth log lines that look like errors: {len(facts['log_problems'])}")
    for line in facts["log_problems"][:10]:
        print(f"  | {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each timed wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--requests", type=int, default=2000, help="timed GETs on one connection")
    parser.add_argument("--max-concurrency", type=int, default=256, help="the function's max_concurrency")
    parser.add_argument("--backend", choices=("node", "uvicorn", "json-server"), default="node",
                        help="the server behind Hearth")
    parser.add_argument("--no-nginx", action="store_true", help="do not measure nginx as the reference proxy")
    add_hearth_options(parser)
    args = parser.parse_args()
    if min(args.duration, args.connections, args.threads, args.requests, args.max_concurrency) < 1:
        parser.error("--duration, --connections, --threads, --requests and --max-concurrency must be at least 1")
    node = shutil.which("node")
    if shutil.which("wrk") is None or (node is None and args.backend != "uvicorn"):
        print("proxy: needs wrk (and node for --backend node: Debian packages `wrk`, `nodejs`)", file=sys.stderr)
        return 1
    node = str(Path(node).resolve()) if node is not None else None
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-") as scratch:
            project = Path(scratch)
            path = backend_path(args.backend)
            service, url = start_backend(args.backend, node, project)
            nginx = None if args.no_nginx else shutil.which("nginx") or next(
                (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None)
            reference = None
            with service:
                direct = measure("direct", url, path, args, {"backend": service.process.pid})
                if nginx is not None:
                    nginx_service, nginx_url = start_nginx(nginx, url, project)
                    with nginx_service:
                        reference = measure("nginx", nginx_url, path, args, {
                            "nginx": nginx_service.process.pid, "backend": service.process.pid})
                else:
                    print("proxy: nginx is not installed (Debian package nginx-light); no reference proxy row",
                          file=sys.stderr)
            write_project(project, backend_command(args.backend, node, project), args.max_concurrency, path)
            hearth_service, gateway, control = start_hearth(project, hearth_args(args))
            with hearth_service:
                proxied = measure("Hearth", gateway, path, args,
                                  {"Hearth": hearth_service.process.pid, "backend": lambda: server_pid(control)})
                facts: dict[str, Any] = {"statuses": record_statuses(control)}
            facts["log_problems"] = hearth_service.problems()
            facts["enforcement"] = memory_enforcement(hearth_service)
    except (BenchError, OSError, subprocess.SubprocessError, http.client.HTTPException) as exc:
        print(f"proxy: could not run: {exc}", file=sys.stderr)
        return 1
    report(direct, proxied, reference, facts, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
