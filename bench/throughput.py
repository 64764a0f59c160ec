"""Warm throughput, latency and idle memory of a hello function on Hearth, next to a bare uvicorn hello app.

Both serve the same small JSON body; uvicorn runs a raw ASGI app with uvloop and httptools (the floor),
Hearth runs a function ``hello`` behind the route ``/hello``. The measurements never overlap one another:

  (a) wrk -t2 -c64 -d{--duration}s --latency, after an untimed 2 s wrk warm-up (for Hearth this also creates
      its instances: up to one per connection, which is expected). Requests/sec, latency p50/p99 and the
      responses wrk counts as "Non-2xx or 3xx" (status >= 400). Target: Hearth req/s >= 35% of uvicorn's.
  (b) one connection: a Python http.client keep-alive loop of --requests GETs after 200 warm-up ones, timed
      per request. Target: Hearth p50 - uvicorn p50 <= 200 µs.
  (c) memory of Hearth's idle warm instances: USS = Private_Clean + Private_Dirty (+ Private_Hugetlb) and PSS
      from /proc/PID/smaps_rollup, median over every idle instance. Target: USS <= 2 MiB.

The hello function runs at --memory-mb, 1769 MB by default: one whole core, as CPU follows memory. What is measured
is what the platform adds, not the function's CPU share: at the 128 MB default an instance gets 7.2% of a core
(1.44 ms per 20 ms period) and its per-call work (~70 µs of CPU on this VM, kernel switches included) caps one
instance near 1,000 calls a second, which the one-connection loop (about 2,000 a second) runs into, as a 128 MB
Lambda function's runtime would.

Both servers run side by side and are measured in --rounds interleaved rounds (uvicorn, then Hearth, in each
round; the idle one uses no CPU): this VM's speed drifts by tens of percent within minutes, and one uvicorn run
followed by one Hearth run measured the drift as often as the difference. Each round gives a ratio and an added
p50; the verdicts are on their medians, and every round is printed.

A missed target is printed as MISSED; the exit status is non-zero only when the benchmark could not run.
The client (wrk or this loop) shares the CPUs with the server, so absolute numbers depend on the machine; the
ratios are the point.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    BenchError,
    add_hearth_options,
    cpu_shares,
    get_json,
    hearth_args,
    idle_wakeups,
    keepalive_gets,
    markdown_table,
    memory_enforcement,
    percentile,
    start_bare_uvicorn,
    start_hearth,
    verdict,
    write_project,
)

WHOLE_CORE_MB = 1769  # CPU follows memory: this much memory is one core
TARGET_RPS_RATIO = 0.35
TARGET_ADDED_P50_US = 200.0
TARGET_USS_MIB = 2.0
WARMUP_S = 2
WARMUP_REQUESTS = 200
WRK_GRACE_S = 30
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
SHOWN_PROBLEMS = 10


def run_wrk(url: str, duration_s: int, threads: int, connections: int) -> dict[str, float]:
    """Run wrk once and return what it reports: rps, requests, p50/p99 (seconds), non2xx, socket_errors."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency", url]
    try:
        done = subprocess.run(argv, check=False, capture_output=True, text=True,
                              timeout=duration_s + WRK_GRACE_S)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {duration_s + WRK_GRACE_S} s") from None
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    out = done.stdout

    def number(pattern: str) -> float:
        found = re.search(pattern, out, re.MULTILINE)
        if found is None:
            raise BenchError(f"cannot find {pattern!r} in wrk's output:\n{out}")
        return float(found.group(1))

    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found is None:
            raise BenchError(f"cannot find the {percent}% latency in wrk's output:\n{out}")
        return float(found.group(1)) * UNITS[found.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)  # printed only when there were some
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": number(r"^Requests/sec:\s+([\d.]+)"), "requests": number(r"^\s*(\d+) requests in"),
            "p50": latency("50"), "p99": latency("99"), "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "socket_errors": float(sum(int(n) for n in errors.groups())) if errors else 0.0}


def warm_up(name: str, url: str, path: str, args: argparse.Namespace) -> dict[str, float]:
    """The untimed wrk run before the first round (for Hearth it also starts the instances)."""
    print(f"{name}: wrk warm-up {WARMUP_S} s ...", file=sys.stderr, flush=True)
    warmup = run_wrk(url + path, WARMUP_S, args.threads, args.connections)
    keepalive_gets(url, path, WARMUP_REQUESTS)
    return warmup


def measure(name: str, url: str, path: str, args: argparse.Namespace) -> dict[str, Any]:
    """(a) and (b) against one server, once: the timed wrk run, then the one-connection loop."""
    print(f"{name}: wrk {args.duration} s, {args.requests} keep-alive GETs ...", file=sys.stderr, flush=True)
    wrk = run_wrk(url + path, args.duration, args.threads, args.connections)
    timings, failures = keepalive_gets(url, path, args.requests)
    return {"wrk": wrk, "one_p50": percentile(timings, 50), "one_p99": percentile(timings, 99),
            "one_failures": failures}


def smaps_rollup(pid: int) -> dict[str, int] | None:
    """The kB fields of /proc/PID/smaps_rollup, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            fields[key] = int(rest.split()[0])
    return fields


def idle_memory(control: str) -> tuple[list[float], list[float], int]:
    """USS and PSS (MiB) of every idle instance, and how many instances are live in all."""
    instances = get_json(f"{control}/hearth/instances")["instances"]
    uss, pss = [], []
    for instance in instances:
        if instance["state"] != "idle" or instance["pid"] is None:
            continue
        fields = smaps_rollup(instance["pid"])
        if fields is None:
            continue
        private = fields["Private_Clean"] + fields["Private_Dirty"] + fields.get("Private_Hugetlb", 0)
        uss.append(private / 1024)
        pss.append(fields["Pss"] / 1024)
    return uss, pss, len(instances)


def record_statuses(control: str) -> collections.Counter[str]:
    """How the hello invocations Hearth still remembers (its newest 10 000) ended."""
    found = get_json(f"{control}/hearth/invocations?function=hello&limit=10000")["invocations"]
    return collections.Counter(record["status"] for record in found)


def us(seconds: float) -> str:
    """Seconds as whole microseconds for the table."""
    return f"{seconds * 1e6:.0f}"


def report(rounds: list[tuple[dict[str, Any], dict[str, Any]]], warmups: dict[str, dict[str, float]],
           memory: tuple[list[float], list[float], int], facts: dict[str, Any], args: argparse.Namespace) -> None:
    """Print every round, the medians and the verdicts; ``facts`` holds Hearth's record statuses, log problems,
    limits."""
    wrk_flags = f"-t{args.threads} -c{args.connections} -d{args.duration}s"
    print(f"# Warm hello: Hearth vs bare uvicorn (wrk {wrk_flags}, {len(rounds)} interleaved rounds)\n")
    print(f"Hearth memory enforcement: {facts['enforcement']}")
    print(f"Hearth CPU shares: {facts['cpu']}")
    print(f"hello's memory_mb: {args.memory_mb}")
    print(f"idle CPUs: {facts['idle']}\n")
    rows = []
    ratios, added = [], []
    for number, (bare, hearth) in enumerate(rounds, 1):
        for label, result in (("bare uvicorn", bare), ("Hearth /hello", hearth)):
            wrk = result["wrk"]
            rows.append([str(number), label, f"{wrk['rps']:.0f}", f"{wrk['p50'] * 1e3:.2f}", f"{wrk['p99'] * 1e3:.2f}",
                         f"{wrk['requests']:.0f}", f"{wrk['non2xx']:.0f}", f"{wrk['socket_errors']:.0f}",
                         us(result["one_p50"]), us(result["one_p99"]), str(result["one_failures"])])
        ratios.append(hearth["wrk"]["rps"] / bare["wrk"]["rps"])
        added.append((hearth["one_p50"] - bare["one_p50"]) * 1e6)
    print(markdown_table(["round", "server", "requests/s", "p50 ms", "p99 ms", "requests", "non-2xx/3xx",
                          "socket errors", "1-conn p50 µs", "1-conn p99 µs", "1-conn non-2xx"], rows) + "\n")
    for label, warmup in warmups.items():
        print(f"{label} warm-up ({WARMUP_S} s): {warmup['requests']:.0f} requests, "
              f"{warmup['non2xx']:.0f} non-2xx/3xx, {warmup['socket_errors']:.0f} socket errors")
    ratio = statistics.median(ratios)
    print(f"Throughput Hearth/uvicorn by round: {', '.join(f'{value:.0%}' for value in ratios)}")
    print(f"Throughput Hearth/uvicorn, median: {ratio:.0%} (target >= {TARGET_RPS_RATIO:.0%}) "
          f"{verdict(ratio >= TARGET_RPS_RATIO)}\n")
    print(f"One connection, keep-alive, {args.requests} GETs per round after {WARMUP_REQUESTS} warm-up ones")
    print(f"Added p50 by round: {', '.join(f'{value:.0f}' for value in added)} µs")
    median_added = statistics.median(added)
    print(f"Added p50, median: {median_added:.0f} µs (target <= {TARGET_ADDED_P50_US:.0f} µs) "
          f"{verdict(median_added <= TARGET_ADDED_P50_US)}\n")

    uss, pss, live = memory
    print(f"## Idle warm instances: {len(uss)} idle of {live} live\n")
    if uss:
        median_uss = statistics.median(uss)
        print(f"USS median {median_uss:.2f} MiB (min {min(uss):.2f}, max {max(uss):.2f}); "
              f"PSS median {statistics.median(pss):.2f} MiB")
        print(f"Target USS <= {TARGET_USS_MIB:g} MiB: {verdict(median_uss <= TARGET_USS_MIB)}")
    else:
        print("No idle instance to measure: MISSED")
    print(f"\nHearth invocation records (newest <= 10000): {dict(facts['statuses'])}")
    print(f"Hearth log lines that look like errors: {len(facts['log_problems'])}")
    for line in facts["log_problems"][:SHOWN_PROBLEMS]:
        print(f"  | {line}")


def main() -> int:
    """Measure uvicorn, then Hearth, then print; 1 if the benchmark could not run."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each timed wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--requests", type=int, default=2000, help="timed GETs on one connection")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (uvicorn, then Hearth)")
    parser.add_argument("--memory-mb", type=int, default=WHOLE_CORE_MB,
                        help="the hello function's memory_mb (default: one whole core's worth)")
    add_hearth_options(parser)
    args = parser.parse_args()
    if min(args.duration, args.connections, args.threads, args.requests, args.rounds) < 1:
        parser.error("--duration, --connections, --threads, --requests and --rounds must be at least 1")
    if shutil.which("wrk") is None:
        print("throughput: wrk is not installed (Debian package `wrk`)", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-") as scratch:
            project = Path(scratch)
            write_project(project, {"/hello": "hello"}, memory_mb=args.memory_mb)
            service, url = start_bare_uvicorn()
            with service:
                hearth_service, gateway, control = start_hearth(project, hearth_args(args))
                with hearth_service:
                    warmups = {"bare uvicorn": warm_up("uvicorn", url, "/hello", args),
                               "Hearth /hello": warm_up("Hearth", gateway, "/hello", args)}
                    rounds = []
                    for number in range(1, args.rounds + 1):
                        print(f"round {number} of {args.rounds}", file=sys.stderr, flush=True)
                        bare = measure("uvicorn", url, "/hello", args)
                        rounds.append((bare, measure("Hearth", gateway, "/hello", args)))
                    memory = idle_memory(control)
                    facts: dict[str, Any] = {"statuses": record_statuses(control)}
                facts["log_problems"] = hearth_service.problems()
                facts["enforcement"] = memory_enforcement(hearth_service)
                facts["cpu"] = cpu_shares(hearth_service)
                facts["idle"] = idle_wakeups()
    except (BenchError, OSError, subprocess.SubprocessError, http.client.HTTPException) as exc:
        print(f"throughput: could not run: {exc}", file=sys.stderr)
        return 1
    report(rounds, warmups, memory, facts, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
