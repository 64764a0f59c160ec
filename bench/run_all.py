"""Hearth beside its peers, in one run on this machine: every benchmark, then one markdown table of figures, ratios
and verdicts, printed and written to bench/results/latest.md (with the date, the core count, the load average at
the start and the Hearth commit).

The parts run one after another as subprocesses of this interpreter (never two at once), each bounded in time:

  coldstart.py       1. Hearth cold start p50/p99, Python and Go (provided)
  peers.py           1. serverless-offline's first call; 2. warm req/s (wrk -t2 -c64) and latency p50/p99 at 1 and
                        64 connections of Hearth, serverless-offline, functions-framework and bare uvicorn
  burst.py           3. 0 → 200 concurrent requests, one cold start each; 4. idle instance USS/PSS, how many fit
  many_functions.py  5. 2,000 deployed functions: idle RSS, route matching, cold start of the 2,000th
  async_events.py    6. asynchronous events accepted and completed per second, durable
  proxy.py           7. the http runtime's proxy against the same server direct: a Node hello server (the
                        proxy's worst case: its cost is most of the work), then json-server (an unmodified npm
                        application, the kind of server the runtime is for)

A part that fails is reported as "not run: why" in its rows, and the table is still written. ``--quick`` shortens
every part (2 s wrk runs, small samples) for a smoke test; its figures are not the real ones. Run it from the
repository root with ``PYTHONPATH=src`` unless Hearth is installed; each part's own output is kept in
bench/results/latest-<part>.txt.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _report
from _common import BENCH_DIR, idle_wakeups

RESULTS = BENCH_DIR / "results"
PART_TIMEOUT_S = 1200
# The proxy's own cost, not the backend's CPU share: at the default 128 MB, CPU following memory would give the Node
# server 7.2% of a core and measure that instead (throughput.py explains the same choice). nginx, when installed,
# is proxy.py's reference row, which this table does not show.
PROXY = ["--no-cpu-follows-memory", "--no-nginx"]
SCRIPTS = {"proxy_app": "proxy"}  # a part run by another part's script, with other arguments


def part_args(quick: bool) -> dict[str, list[str]]:
    """Each script's arguments: the issue's figures, or short ones for a smoke test."""
    if quick:
        return {"coldstart": ["--n", "20"], "peers": ["--duration", "2", "--cold-n", "5"],
                "burst": ["--n", "200"], "many_functions": ["--requests", "200"],
                "async_events": ["--duration", "2", "--events", "50"],
                "proxy": ["--duration", "2", "--requests", "300", *PROXY],
                "proxy_app": ["--duration", "2", "--requests", "300", "--backend", "json-server", *PROXY]}
    return {"coldstart": ["--n", "200"], "peers": ["--duration", "10", "--cold-n", "20"], "burst": ["--n", "200"],
            "many_functions": [], "async_events": ["--duration", "10"], "proxy": ["--duration", "10", *PROXY],
            "proxy_app": ["--duration", "10", "--backend", "json-server", *PROXY]}


def run_part(name: str, argv: list[str], json_path: Path | None) -> tuple[str | None, Any, str]:
    """Run the part ``name`` (bench/NAME.py, or the script ``SCRIPTS`` names); its stdout (None if it failed), its
    --json figures if asked for, and why it failed."""
    script = SCRIPTS.get(name, name)
    command = [sys.executable, str(BENCH_DIR / f"{script}.py"), *argv]
    if json_path is not None:
        command += ["--json", str(json_path)]
    print(f"run_all: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PART_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        return None, None, f"not run: {script}.py took more than {exc.timeout:g} s"
    (RESULTS / f"latest-{name}.txt").write_text(f"$ {' '.join(command)}\n\n{done.stdout}\n--- stderr ---\n"
                                                f"{done.stderr}")
    print(f"run_all: {name} done in {time.monotonic() - started:.0f} s (status {done.returncode})",
          file=sys.stderr, flush=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return None, None, f"not run: {script}.py failed: {last}"
    figures = json.loads(json_path.read_text()) if json_path is not None and json_path.exists() else None
    return done.stdout, figures, "not run"


def readable(number: str, rows: Callable[[], list[_report.Row]]) -> list[_report.Row]:
    """The rows of one part, or one row that says its figures could not be read (a script's output changed)."""
    try:
        return rows()
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        return [_report.Row(number, "(figures)", f"not read: {type(exc).__name__}: {exc}")]


def cpu_times() -> list[int]:
    """The machine's CPU time so far by kind (``/proc/stat``'s first line: user, nice, system, idle, iowait, irq,
    softirq, steal), in clock ticks; empty where there is no ``/proc/stat``."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            return [int(field) for field in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def stolen_share(before: list[int], after: list[int]) -> str:
    """The share of CPU time the hypervisor gave to other guests between two ``cpu_times``."""
    if len(before) < 8 or len(after) < 8:
        return "unknown"
    spent = [late - early for early, late in zip(before, after, strict=True)]
    return f"{spent[7] / max(sum(spent), 1):.1%}"


def python_speed() -> float:
    """Milliseconds for a fixed piece of pure Python (dicts, attributes, calls), best of 5: how fast this machine
    runs an interpreter right now, to compare runs on a VM whose speed drifts."""
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    def work() -> int:
        table: dict[int, Point] = {}
        for i in range(20_000):
            table[i % 997] = Point(i)
        return sum(point.x for point in table.values())

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(10):
            work()
        best = min(best, time.perf_counter() - started)
    return best * 1000.0


def hearth_commit() -> str:
    """The commit of the Hearth being measured (the repository this script is in), or "unknown"."""
    try:
        done = subprocess.run(["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=30, check=False)
        dirty = subprocess.run(["git", "-C", str(BENCH_DIR), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = done.stdout.strip() or "unknown"
    return commit + (" (src has uncommitted changes)" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs for a smoke test, not the real figures")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.md", help="where to write the table")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    load = os.getloadavg()
    speed_before, times_before = python_speed(), cpu_times()
    started = datetime.datetime.now(datetime.UTC)
    arguments = part_args(args.quick)
    with tempfile.TemporaryDirectory(prefix="hearth-bench-all-") as scratch:
        out = {name: run_part(name, arguments[name], Path(scratch) / f"{name}.json" if name in {
            "peers", "burst", "many_functions"} else None) for name in arguments}
    cold_text, _, cold_why = out["coldstart"]
    _, peers, peers_why = out["peers"]
    _, burst, burst_why = out["burst"]
    _, many, many_why = out["many_functions"]
    async_text, _, async_why = out["async_events"]
    proxy_text, _, proxy_why = out["proxy"]
    app_text, _, app_why = out["proxy_app"]
    rows = [*readable("1", lambda: _report.cold_rows(_report.parse_coldstart(cold_text) if cold_text else None,
                                                     (peers or {}).get("serverless-offline"), cold_why)),
            *readable("2", lambda: _report.warm_rows(peers, peers_why)),
            *readable("3, 4", lambda: _report.burst_rows(burst, burst_why)),
            *readable("5", lambda: _report.many_rows(many, many_why)),
            *readable("6", lambda: _report.async_rows(_report.parse_async(async_text) if async_text else None,
                                                     async_why)),
            *readable("7", lambda: _report.proxy_rows(_report.parse_proxy(proxy_text) if proxy_text else None,
                                                     proxy_why, "a Node hello server")),
            *readable("7", lambda: _report.proxy_rows(_report.parse_proxy(app_text) if app_text else None,
                                                     app_why, "json-server (an npm application)"))]
    minutes = (datetime.datetime.now(datetime.UTC) - started).total_seconds() / 60
    stolen, speed_after = stolen_share(times_before, cpu_times()), python_speed()
    header = (f"# Hearth beside its peers{' (--quick: smoke test, not the real figures)' if args.quick else ''}\n\n"
              f"{started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average at the start "
              f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, Hearth commit {hearth_commit()}, Python "
              f"{sys.version.split()[0]}; {minutes:.1f} minutes. Each part's own output: bench/results/"
              f"latest-<part>.txt. Ratios are Hearth's figure over the peer's (higher is better for Hearth).\n\n"
              f"How fast the machine was: a fixed piece of pure Python took {speed_before:.1f} ms before the run and "
              f"{speed_after:.1f} ms after it; the hypervisor gave {stolen} of the CPU time during the run to "
              f"other guests. Idle CPUs: {idle_wakeups()}. On this project's 2-vCPU VM, bare uvicorn has "
              "measured from 17k to 39k req/s at different hours, and Hearth (dozens of processes, each with its "
              "own memory) swings more than the one-process peers: compare runs whose machine was about as "
              "fast.\n")
    text = header + "\n" + _report.table(rows) + "\n"
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
