"""Many functions: what 2,000 deployed, idle functions cost Hearth.

Two ``hearth serve`` runs, one after the other, each in a data folder of its own, and ``hearth deploy`` of a project
whose functions all run the same hello: one with a single function, one with --functions functions (``fn0..``, each
behind its own route ``/f{i}``). For each run, after the first function answered once (so the zygote is up) and
everything is idle:

  idle RSS       VmRSS of the platform process, and the PSS of its whole tree (platform, zygote, the one warm
                 instance). Target: the --functions run adds <= 100 MB to the platform's RSS.
  deploy time    ``hearth deploy`` of the project, start to finish (packaging, upload, the catalog, the routes).

In the --functions run only:

  cold start of the last function  the first GET of each of the last 10 functions (the last one is fn{N-1}) over a
                                   new connection: p50, and the last one's.
  warm latency, first vs last      --requests keep-alive GETs to /f0 and to /f{N-1}: p50 each (route position
                                   should not matter).

And in this process, against Hearth's own ``RouteTable`` (hearth.gateway.routes) built from the same routes:

  route matching per request       timeit of ``match("GET", path)`` for the first, the last and a missing path, with
                                   --functions static routes (``/f{i}``) and with as many parameterised ones
                                   (``/f{i}/{id}``, matched by regular expression in precedence order), next to a
                                   one-route table.

Markdown to stdout; ``--json PATH`` writes the figures for bench/run_all.py. Needs ``hearth`` importable (run with
``PYTHONPATH=src``, as the other scripts).
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from _common import (
    BenchError,
    add_hearth_options,
    fresh_get,
    hearth_args,
    keepalive_gets,
    markdown_table,
    percentile,
    start_platform,
    write_project,
)
from _memory import tree_footprint

TARGET_ADDED_MB = 100.0
DEPLOY_TIMEOUT_S = 600
SETTLE_S = 1.0  # after the last request, before reading idle memory (lets the platform's buffers settle)
TIMEIT_REPEAT = 3


def vm_rss_kib(pid: int) -> int:
    """VmRSS of one process from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no VmRSS")


def deploy(project: Path, control: str, data_dir: Path) -> float:
    """``hearth deploy`` the project to the running ``hearth serve``; the seconds it took."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hearth", "deploy", str(project), "--endpoint", control,
                           "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S,
                          stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise BenchError(f"hearth deploy failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def run(scratch: Path, count: int, args: argparse.Namespace) -> dict[str, Any]:
    """One ``hearth serve``, ``count`` functions deployed to it; its figures."""
    project, data_dir = scratch / f"project{count}", scratch / f"data{count}"
    project.mkdir()
    write_project(project, {f"/f{i}": f"fn{i}" for i in range(count)})
    hearth, gateway, control = start_platform("hearth serve", ["serve", "--data-dir", str(data_dir),
                                                               *hearth_args(args)])
    with hearth:
        result: dict[str, Any] = {"functions": count, "deploy_s": deploy(project, control, data_dir)}
        status, _ = fresh_get(gateway, "/f0")
        if status != 200:
            raise BenchError(f"GET /f0 answered {status}")
        time.sleep(SETTLE_S)  # idle on purpose: this is what is measured, not a synchronisation
        result["rss_mib"] = vm_rss_kib(hearth.process.pid) / 1024
        result["tree_pss_mib"] = tree_footprint(hearth.process.pid).pss_kib / 1024
        if count > 1:
            last = [f"/f{i}" for i in range(max(1, count - 10), count)]
            cold = []
            for path in last:
                status, seconds = fresh_get(gateway, path)
                if status != 200:
                    raise BenchError(f"GET {path} answered {status}")
                cold.append(seconds)
            result["cold_last_s"] = cold[-1]
            result["cold_last10_p50_s"] = percentile(cold, 50)
            for label, path in (("first", "/f0"), ("last", f"/f{count - 1}")):
                timings, failures = keepalive_gets(gateway, path, args.requests)
                if failures:
                    raise BenchError(f"{failures} GETs {path} failed")
                result[f"warm_{label}_p50_s"] = percentile(timings, 50)
    return result


def route_matching(count: int) -> dict[str, float]:
    """Seconds per ``RouteTable.match`` for the first, last and a missing path, static and parameterised."""
    from hearth.gateway.routes import RouteTable
    from hearth.model import RouteSpec

    tables = {"static": (RouteTable(RouteSpec(f"/f{i}", f"fn{i}") for i in range(count)), "/f{i}"),
              "param": (RouteTable(RouteSpec(f"/f{i}/{{id}}", f"fn{i}") for i in range(count)), "/f{i}/7"),
              "one": (RouteTable([RouteSpec("/f0", "fn0")]), "/f{i}")}
    figures = {}
    for kind, (table, pattern) in tables.items():
        for label, index in (("first", 0), ("last", count - 1), ("miss", count)):
            path = pattern.format(i=index)
            if kind == "one" and label == "last":
                continue
            found = table.match("GET", path)
            if (found is None) != (label == "miss" or (kind == "one" and index > 0)):
                raise BenchError(f"{kind} table: {path} matched {found}")
            timer = timeit.Timer(lambda t=table, p=path: t.match("GET", p))
            number, _ = timer.autorange()  # enough calls for 0.2 s
            figures[f"{kind}_{label}"] = min(timer.repeat(TIMEIT_REPEAT, number)) / number
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", type=int, default=2000, help="functions and routes (%(default)s)")
    parser.add_argument("--requests", type=int, default=500, help="warm keep-alive GETs per route (%(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    add_hearth_options(parser)
    args = parser.parse_args()
    if args.functions < 11 or args.requests < 1:
        parser.error("--functions must be at least 11 and --requests at least 1")
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-many-") as scratch:
            Path(scratch).chmod(0o755)  # with --instance-user auto the functions' own uids read the code
            print("many_functions: 1 function ...", file=sys.stderr, flush=True)
            base = run(Path(scratch), 1, args)
            print(f"many_functions: {args.functions} functions ...", file=sys.stderr, flush=True)
            loaded = run(Path(scratch), args.functions, args)
    except (BenchError, OSError, http.client.HTTPException, subprocess.SubprocessError) as exc:
        print(f"many_functions: could not run: {exc}", file=sys.stderr)
        return 1
    matching = route_matching(args.functions)
    added_mb = (loaded["rss_mib"] - base["rss_mib"]) * 1.048576
    result = {"base": base, "loaded": loaded, "matching": matching, "added_rss_mb": added_mb,
              "met_rss": added_mb <= TARGET_ADDED_MB}
    n = args.functions
    print(f"# {n} deployed idle functions\n")
    print(markdown_table(["measure", "1 function", f"{n} functions"], [
        ["platform VmRSS, idle", f"{base['rss_mib']:.1f} MiB", f"{loaded['rss_mib']:.1f} MiB (+{added_mb:.1f} MB; "
         f"target <= {TARGET_ADDED_MB:g} MB: {'met' if result['met_rss'] else 'MISSED'})"],
        ["tree PSS (platform, zygote, 1 warm instance)", f"{base['tree_pss_mib']:.1f} MiB",
         f"{loaded['tree_pss_mib']:.1f} MiB"],
        ["hearth deploy time", f"{base['deploy_s'] * 1e3:.0f} ms", f"{loaded['deploy_s'] * 1e3:.0f} ms"],
        [f"cold start of fn{n - 1}, fresh connection", "", f"{loaded['cold_last_s'] * 1e3:.2f} ms "
         f"(last 10: p50 {loaded['cold_last10_p50_s'] * 1e3:.2f} ms)"],
        ["warm keep-alive GET p50: /f0 vs the last", "", f"{loaded['warm_first_p50_s'] * 1e6:.0f} µs vs "
         f"{loaded['warm_last_p50_s'] * 1e6:.0f} µs"],
    ]))
    print(f"\n## RouteTable.match, µs per call (best of {TIMEIT_REPEAT} runs of at least 0.2 s)\n")
    print(markdown_table(["table", "first", "last", "miss"], [
        ["1 static route", f"{matching['one_first'] * 1e6:.2f}", "", f"{matching['one_miss'] * 1e6:.2f}"],
        [f"{n} static routes", *(f"{matching[f'static_{k}'] * 1e6:.2f}" for k in ("first", "last", "miss"))],
        [f"{n} parameterised routes", *(f"{matching[f'param_{k}'] * 1e6:.2f}" for k in ("first", "last", "miss"))],
    ]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
