"""Burst and density: 0 → --n concurrent requests to a function with no warm instance, then the memory of the
idle warm instances the burst left behind.

Hearth (``hearth dev``, default limits: 1000 calls at once platform-wide, no reservation needed) serves a function
``burst`` that has never run. Its handler holds every call at a barrier until --n calls are in handlers at once, so
no instance can serve two of the burst's requests: each request needs its own cold start. The client opens --n
connections at once (asyncio, one GET each, ``Connection: close``) and the barrier opens as soon as the --n-th
call arrives (a FIFO the handlers block on; the client watches the calls arrive and opens it).

  burst       time from sending the --n requests to the last answer; errors (a non-2xx answer, a failed or timed
              out connection); instances started; peak PSS of Hearth's process tree (platform, zygotes,
              instances), sampled every 100 ms. Target: all --n answered in <= 2 s with no errors.
  density     USS and PSS of each idle warm instance the burst left (median), from /proc/PID/smaps_rollup; what
              each costs the machine (MemTotal − MemAvailable after the burst, less before it, over the instances
              it left: USS plus the kernel's part, page tables, kernel stacks, cgroups, sockets); and how many idle
              instances fit before the machine has used 50% of MemTotal at that cost (and, for comparison, at the
              USS alone, before Hearth's tree reaches 50%). Target: USS <= 2 MiB.

Figures go to stdout as markdown, and with ``--json PATH`` as JSON for bench/run_all.py. The exit status is non-zero
only when the benchmark could not run; a missed target is printed as MISSED.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BenchError, add_hearth_options, address, get_json, hearth_args, markdown_table, start_hearth
from _memory import PeakSampler, mem_total_kib, mem_used_kib, smaps_rollup, tree_footprint

TARGET_BURST_S = 2.0
TARGET_USS_MIB = 2.0
BARRIER_TIMEOUT_S = 20.0  # the client opens the barrier after this however many calls arrived
REQUEST_TIMEOUT_S = 60.0
IDLE_TIMEOUT_S = 20.0
POLL_S = 0.005
BARRIER_SOURCE = '''import os


def handler(event, context):
    """Say where this call is, then wait until the benchmark opens the barrier (a FIFO it opens for writing)."""
    folder = os.environ["BARRIER_DIR"]
    open(os.path.join(folder, "arrived", f"{os.getpid()}-{context.aws_request_id}"), "w").close()
    with open(os.path.join(folder, "gate")) as gate:  # blocks until the benchmark opens it for writing
        gate.read()
    return {"message": "hello"}
'''


def write_project(root: Path, barrier: Path, memory_mb: int) -> None:
    """The project: ``warmup`` (hello, starts the zygote) and ``burst`` (behind the barrier)."""
    (root / "hello.py").write_text('def handler(event, context):\n    return {"message": "hello"}\n')
    (root / "barrier.py").write_text(BARRIER_SOURCE)
    (root / "hearth.toml").write_text(f'''[functions.warmup]
handler = "hello.handler"

[functions.burst]
handler = "barrier.handler"
memory_mb = {memory_mb}
timeout_s = 60
env = {{ BARRIER_DIR = "{barrier}" }}

[[routes]]
path = "/warmup"
function = "warmup"

[[routes]]
path = "/burst"
function = "burst"
''')


async def one_get(host: str, port: int, path: str) -> tuple[int, float]:
    """GET over a new connection; the status (0 if it failed) and when the answer ended (perf_counter)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT_S)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT_S)
        writer.close()
    except (TimeoutError, OSError):
        return 0, time.perf_counter()
    ended = time.perf_counter()
    try:
        return int(data.split(b" ", 2)[1]), ended
    except (IndexError, ValueError):
        return 0, ended


async def open_barrier(barrier: Path, n: int) -> tuple[int, float]:
    """Wait until ``n`` calls arrived (or the bound runs out), then open the gate; how many arrived, and when."""
    arrived = barrier / "arrived"
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    count = 0
    while time.monotonic() < deadline:
        count = len(os.listdir(arrived))
        if count >= n:
            break
        await asyncio.sleep(POLL_S)
    opened = time.perf_counter()
    try:
        gate = os.open(barrier / "gate", os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no handler is waiting
        return count, opened
    os.close(gate)
    return count, opened


async def burst(url: str, barrier: Path, n: int) -> dict[str, Any]:
    """Send ``n`` GETs /burst at once; time to the last answer, statuses, calls that met at the barrier."""
    host, port = address(url)
    started = time.perf_counter()
    gets = [asyncio.ensure_future(one_get(host, port, "/burst")) for _ in range(n)]
    arrived, opened = await open_barrier(barrier, n)
    answers = await asyncio.gather(*gets)
    last = max(ended for _, ended in answers)
    errors = sum(1 for status, _ in answers if not 200 <= status < 300)
    return {"seconds": last - started, "errors": errors, "arrived": arrived, "barrier_s": opened - started}


def wait_idle(control: str, n: int) -> list[dict[str, Any]]:
    """The burst function's instances once none is busy (bounded wait)."""
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    instances: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        instances = [item for item in get_json(f"{control}/hearth/instances")["instances"]
                     if item["function"] == "burst"]
        if instances and all(item["state"] == "idle" for item in instances):
            break
        time.sleep(0.1)
    return instances


def density(hearth_pid: int, instances: list[dict[str, Any]], used_before_kib: int) -> dict[str, Any]:
    """USS/PSS medians (MiB) of the idle instances, what each costs the machine (its used memory now against
    ``used_before_kib``, before the instances started), and how many fit before 50% of MemTotal."""
    uss, pss = [], []
    for item in instances:
        if item["state"] != "idle" or item["pid"] is None:
            continue
        footprint = smaps_rollup(item["pid"])
        if footprint is not None:
            uss.append(footprint.uss_kib / 1024)
            pss.append(footprint.pss_kib / 1024)
    tree = tree_footprint(hearth_pid)
    half_kib = mem_total_kib() / 2
    median_uss = statistics.median(uss) if uss else float("nan")
    fit = int((half_kib - tree.pss_kib) / (median_uss * 1024)) + len(uss) if uss else 0
    used_kib = mem_used_kib()
    system_kib = (used_kib - used_before_kib) / len(instances) if instances else float("nan")
    fit_system = (int((half_kib - used_kib) / system_kib) + len(instances)
                  if instances and system_kib > 0 else 0)
    return {"idle": len(uss), "uss_mib": median_uss, "pss_mib": statistics.median(pss) if pss else float("nan"),
            "uss_max_mib": max(uss) if uss else float("nan"), "tree_pss_mib": tree.pss_kib / 1024,
            "fit_half_ram": fit, "mem_total_mib": mem_total_kib() / 1024, "system_mib": system_kib / 1024,
            "fit_half_ram_system": fit_system, "used_mib": used_kib / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="concurrent requests, one instance each (%(default)s)")
    parser.add_argument("--memory-mb", type=int, default=128, help="the burst function's memory_mb (%(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    add_hearth_options(parser)
    args = parser.parse_args()
    if not 1 <= args.n <= 900:
        parser.error("--n must be 1..900 (under the platform's default limit of 1000 calls at once)")
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-burst-") as scratch:
            root = Path(scratch)
            project, barrier = root / "project", root / "barrier"
            project.mkdir()
            (barrier / "arrived").mkdir(parents=True)
            os.mkfifo(barrier / "gate")
            for path in (root, barrier, barrier / "arrived"):
                path.chmod(0o777)  # with --instance-user auto the function's own uid writes here
            (barrier / "gate").chmod(0o666)
            write_project(project, barrier, args.memory_mb)
            project.chmod(0o755)
            hearth, gateway, control = start_hearth(project, hearth_args(args))
            with hearth:
                asyncio.run(one_get(*address(gateway), "/warmup"))
                before = tree_footprint(hearth.process.pid)
                used_before = mem_used_kib()
                with PeakSampler(hearth.process.pid) as sampler:
                    result = asyncio.run(burst(gateway, barrier, args.n))
                    instances = wait_idle(control, args.n)
                result.update(instances=len(instances), peak_pss_mib=sampler.peak.pss_kib / 1024,
                              peak_processes=sampler.peak.processes, before_pss_mib=before.pss_kib / 1024)
                result["density"] = density(hearth.process.pid, instances, used_before)
            problems = hearth.problems()
            lines = [line for _, line in hearth.lines]
            traceback = next((i for i, line in enumerate(lines) if line.startswith("Traceback")), None)
    except (BenchError, OSError) as exc:
        print(f"burst: could not run: {exc}", file=sys.stderr)
        return 1
    result["n"] = args.n
    result["met_burst"] = result["seconds"] <= TARGET_BURST_S and result["errors"] == 0
    dens = result["density"]
    dens["met_uss"] = dens["uss_mib"] <= TARGET_USS_MIB
    print(f"# Burst: 0 → {args.n} concurrent requests, one cold start each; then idle density\n")
    print(markdown_table(["measure", "value"], [
        [f"time until all {args.n} answered", f"{result['seconds'] * 1000:.0f} ms "
         f"(target <= {TARGET_BURST_S:g} s, no errors: {'met' if result['met_burst'] else 'MISSED'})"],
        ["errors", result["errors"]],
        ["calls at the barrier when it opened", f"{result['arrived']} after {result['barrier_s'] * 1000:.0f} ms"],
        ["instances of the function afterwards", result["instances"]],
        ["Hearth tree PSS before → peak", f"{result['before_pss_mib']:.1f} → {result['peak_pss_mib']:.1f} MiB "
         f"({result['peak_processes']} processes)"],
        ["idle instance USS, median (max)", f"{dens['uss_mib']:.2f} MiB ({dens['uss_max_mib']:.2f}) "
         f"(target <= {TARGET_USS_MIB:g} MiB: {'met' if dens['met_uss'] else 'MISSED'})"],
        ["idle instance PSS, median", f"{dens['pss_mib']:.2f} MiB"],
        ["machine memory per idle instance (MemAvailable's drop over the burst / instances)",
         f"{dens['system_mib']:.2f} MiB"],
        ["idle instances that fit before the machine has used 50% of RAM, at that cost",
         f"{dens['fit_half_ram_system']:,} (MemTotal {dens['mem_total_mib']:,.0f} MiB, used now "
         f"{dens['used_mib']:,.0f} MiB)"],
        ["idle instances that fit in 50% of RAM, at the USS alone", f"{dens['fit_half_ram']:,} (tree PSS now "
         f"{dens['tree_pss_mib']:.1f} MiB)"],
    ]))
    for line in problems[:10]:
        print(f"hearth said: {line}", file=sys.stderr)
    if traceback is not None:  # the first one whole: what went wrong, not just that something did
        print("\n".join(["hearth's first traceback:", *lines[max(0, traceback - 1):traceback + 40]]), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
