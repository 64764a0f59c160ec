"""Cold start of a hello-world function, end to end over HTTP, next to three baselines measured in one run.

Each row is the p50 and p99 over --n samples, after one untimed warm-up of the same kind:

  fork()+waitpid       fork this Python process, the child exits at once, reap it: the floor of any
                       fork-based cold start.
  fresh interpreter    ``python -c "import hello; hello.handler({}, None)"`` in the project folder: the least
                       a platform that starts an interpreter per cold start pays, before any HTTP at all.
  bare uvicorn         one GET to a raw-ASGI hello app under uvicorn (uvloop, httptools) over a new
                       connection: the floor for one HTTP request.
  Hearth cold          the first GET of each of --n functions (hello0.., each behind its own route /f{i}) over
                       a new connection, from before connect to the last byte: TCP, routing, the fork from
                       the zygote, the handler's import, the invocation and the response.
  Hearth warm          the second GET of each function, also over a new connection: no cold start.
  Hearth cold after    the first GET of each of --pause-n more functions, each sent --pause-ms after the last
    a pause            answer: how a cold start usually comes, after a quiet spell. A machine at rest wakes up
                       slower, and kernel work that is cheap back to back can wait (a cgroup move once waited
                       for an RCU grace period here: ~20 ms).
  fresh Go process     exec the Go bootstrap and wait for it to exit (without a Runtime API it stops at its
                       first request): the floor of a ``provided`` cold start.
  Hearth Go cold/warm  the same as Hearth cold/warm for --n ``runtime = "provided"`` functions running a Go
                       ``bootstrap`` on net/http (tests/integration/projects/provided_go), when Go is installed:
                       the exec from the zygote, the Go runtime's start, its first GET /next, the invocation.
  bwrap + fresh interpreter   the fresh-interpreter baseline inside the sandbox bwrap builds for a sandboxed
                       function (runtimes/python/sandbox.py): the floor of a sandbox's first cold start.
  Hearth sandboxed     --sandbox-n ``isolation = "sandbox"`` hello functions (each its own sandbox), when bwrap is
    first cold         installed. First cold: the first GET of each, which starts its sandbox (bwrap, a fresh
    warm               interpreter that pre-imports the worker) and forks the instance from it; warm: the GET
    cold (fork)        right after; cold (fork): once their instances were reaped (idle_timeout_s = 0.1), a GET
                       of each again: a new instance forked from the sandbox's running zygote.

How to read it: Hearth cold − bare uvicorn is what a cold start adds to one HTTP request; Hearth cold /
fresh interpreter is what a zygote fork costs next to spawning an interpreter. The targets are Hearth cold
p50 ≤ 10 ms and Hearth Go cold p50 ≤ 15 ms; a missed target is printed as MISSED (the exit status is non-zero
only when the benchmark could not run). Every first call is checked against /hearth/invocations: a record
for it, cold, succeeded.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import (
    BenchError,
    add_hearth_options,
    build_go_bootstrap,
    cpu_shares,
    fresh_gets,
    get_json,
    hearth_args,
    markdown_table,
    memory_enforcement,
    percentile,
    start_bare_uvicorn,
    start_hearth,
    verdict,
    write_project,
)

from hearth.runtimes.python.sandbox import TASK_ROOT, bwrap_argv, find_bwrap

TARGET_COLD_P50_MS = 10.0
TARGET_GO_COLD_P50_MS = 15.0
REAPED_WAIT_S = 10.0
SPAWN_TIMEOUT_S = 30.0
SHOWN_PROBLEMS = 10


def time_fork(n: int) -> list[float]:
    """Seconds of ``fork()`` + the child's ``_exit`` + ``waitpid``, ``n`` times after one warm-up."""
    timings = []
    for _ in range(n + 1):
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        timings.append(time.perf_counter() - started)
    return timings[1:]


def time_fresh_interpreter(project: Path, n: int) -> list[float]:
    """Seconds to run the handler once in a new interpreter, ``n`` times after one warm-up."""
    argv = [sys.executable, "-c", "import hello; hello.handler({}, None)"]
    timings = []
    for _ in range(n + 1):
        started = time.perf_counter()
        done = subprocess.run(argv, check=False, cwd=project, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=SPAWN_TIMEOUT_S)
        timings.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise BenchError(f"the fresh-interpreter baseline failed: {done.stderr.decode(errors='replace')}")
    return timings[1:]


def time_exec(binary: Path, n: int) -> list[float]:
    """Seconds to start ``binary`` and see it exit, ``n`` times after one warm-up."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1"}
    timings = []
    for _ in range(n + 1):
        started = time.perf_counter()
        subprocess.run([str(binary)], check=False, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=SPAWN_TIMEOUT_S)
        timings.append(time.perf_counter() - started)
    return timings[1:]


def time_sandboxed_interpreter(project: Path, n: int) -> list[float]:
    """Seconds to run the handler once in a new interpreter inside a function's sandbox, ``n`` times after one
    warm-up; empty without bwrap."""
    bwrap = find_bwrap()
    if bwrap is None:
        return []
    argv = [*bwrap_argv(bwrap, python=sys.executable, import_path=[p for p in sys.path if p], code_dir=str(project),
                        network=True),
            "--", sys.executable, "-c", f"import sys; sys.path.insert(0, {TASK_ROOT!r}); import hello; "
                                        "hello.handler({}, None)"]
    timings = []
    for _ in range(n + 1):
        started = time.perf_counter()
        done = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=SPAWN_TIMEOUT_S)
        timings.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise BenchError(f"the sandboxed-interpreter baseline failed: {done.stderr.decode(errors='replace')}")
    return timings[1:]


def time_sandboxed(gateway: str, control: str, paths: list[str], names: list[str],
                   problems: list[str]) -> tuple[list[float], list[float], list[float]]:
    """The first cold, warm and forked cold GETs of the sandboxed functions (see the module's docstring)."""
    first: list[float] = []
    warm: list[float] = []
    for path in paths:
        timings = fresh_gets(gateway, [path, path], problems)
        if len(timings) == 2:
            first.append(timings[0])
            warm.append(timings[1])
    deadline = time.monotonic() + REAPED_WAIT_S
    wanted = set(names)
    while any(item["function"] in wanted for item in get_json(f"{control}/hearth/instances")["instances"]):
        if time.monotonic() > deadline:
            problems.append(f"sandboxed instances not reaped within {REAPED_WAIT_S:g} s")
            break
        time.sleep(0.05)
    forked = fresh_gets(gateway, paths, problems)
    return first, warm, forked


def check_sandboxed_records(control: str, names: list[str], problems: list[str]) -> tuple[list[float], list[float]]:
    """Check that each sandboxed function ran cold, warm, cold, all successful; return the Init Durations of the
    first and of the second cold start."""
    found = get_json(f"{control}/hearth/invocations?limit={3 * len(names) + 10}")["invocations"]
    by_function: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in found:
        by_function[record["function"]].append(record)
    first_init: list[float] = []
    fork_init: list[float] = []
    for name in names:
        records = sorted(by_function.get(name, []), key=lambda record: record["start"])
        shape = [(record["cold"], record["status"]) for record in records]
        if shape != [(True, "success"), (False, "success"), (True, "success")]:
            problems.append(f"{name}: records (cold, status) {shape}, expected cold, warm, cold, all successful")
            continue
        if records[0]["init_ms"] is not None:
            first_init.append(records[0]["init_ms"])
        if records[2]["init_ms"] is not None:
            fork_init.append(records[2]["init_ms"])
    return first_init, fork_init


def check_records(control: str, names: list[str], problems: list[str], calls: int = 2) -> list[float]:
    """Check that each function's first call was cold and succeeded (and, with ``calls`` 2, that its second was
    warm); return the first calls' Init Durations."""
    found = get_json(f"{control}/hearth/invocations?limit={2 * len(names) + 10}")["invocations"]
    by_function: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in found:
        by_function[record["function"]].append(record)
    init_ms = []
    warm_but_cold = 0
    for name in names:
        records = sorted(by_function.get(name, []), key=lambda record: record["start"])
        if not records:
            problems.append(f"{name}: no invocation record")
            continue
        first = records[0]
        if not first["cold"] or first["status"] != "success":
            problems.append(f"{name}: first call cold={first['cold']} status={first['status']}")
        if first["init_ms"] is not None:
            init_ms.append(first["init_ms"])
        warm_but_cold += sum(1 for record in records[1:] if record["cold"])
        if len(records) != calls:
            problems.append(f"{name}: {len(records)} records, expected {calls}"
                            f"{' (one cold, one warm)' if calls == 2 else ''}")
    if warm_but_cold:
        problems.append(f"{warm_but_cold} second calls were cold too (the warm instance was not reused)")
    return init_ms


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the table."""
    return f"{seconds * 1000:.2f}"


def row(label: str, timings: list[float]) -> list[object]:
    """A table row: label, p50, p99 (ms) and the number of samples."""
    return [label, ms(percentile(timings, 50)), ms(percentile(timings, 99)), len(timings)]


def main() -> int:
    """Run every measurement, print the table and the verdicts; 1 if the benchmark could not run."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="functions (cold starts) and baseline samples")
    parser.add_argument("--pause-n", type=int, default=40, help="cold starts after a pause; 0: none")
    parser.add_argument("--pause-ms", type=float, default=200.0, help="the pause before each of them")
    parser.add_argument("--sandbox-n", type=int, default=50,
                        help="sandboxed functions (each its own sandbox: a bwrap and an interpreter); 0: none")
    add_hearth_options(parser)
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    names = [f"hello{i}" for i in range(args.n)]
    paths = [f"/f{i}" for i in range(args.n)]
    pause_names = [f"paused{i}" for i in range(max(0, args.pause_n))]
    pause_paths = [f"/p{i}" for i in range(len(pause_names))]
    paused: list[float] = []
    go_names = [f"go{i}" for i in range(args.n)]
    go_paths = [f"/g{i}" for i in range(args.n)]
    problems: list[str] = []
    go_cold: list[float] = []
    go_warm: list[float] = []
    go_fresh: list[float] = []
    go_init_ms: list[float] = []
    sandbox_names = [f"boxed{i}" for i in range(max(0, args.sandbox_n))]
    sandbox_paths = [f"/s{i}" for i in range(len(sandbox_names))]
    boxed_fresh: list[float] = []
    boxed_first: list[float] = []
    boxed_warm: list[float] = []
    boxed_fork: list[float] = []
    boxed_init: tuple[list[float], list[float]] = ([], [])
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-") as scratch:
            project = Path(scratch)
            project.chmod(0o755)  # with --instance-user auto the functions' own uids read it
            fork = time_fork(args.n)  # first, while this process has no threads
            bootstrap = build_go_bootstrap(project / "bootstrap")
            go_routes = dict(zip(go_paths, go_names, strict=True)) if bootstrap else {}
            boxed_routes = dict(zip(sandbox_paths, sandbox_names, strict=True)) if find_bwrap() else {}
            write_project(project, {"/warmup": "warmup", **dict(zip(paths, names, strict=True)),
                                    **dict(zip(pause_paths, pause_names, strict=True))}, go_routes,
                          sandboxed=boxed_routes)
            fresh = time_fresh_interpreter(project, args.n)
            boxed_fresh = time_sandboxed_interpreter(project, min(args.n, 50)) if boxed_routes else []
            if bootstrap is not None:
                go_fresh = time_exec(bootstrap, args.n)
            service, url = start_bare_uvicorn()
            with service:
                fresh_gets(url, ["/"], problems)
                bare = fresh_gets(url, ["/"] * args.n, problems)
            hearth, gateway, control = start_hearth(project, hearth_args(args))
            with hearth:
                fresh_gets(gateway, ["/warmup"], problems)
                cold = fresh_gets(gateway, paths, problems)
                warm = fresh_gets(gateway, paths, problems)
                init_ms = check_records(control, names, problems)
                for path in pause_paths:
                    time.sleep(args.pause_ms / 1000)
                    paused += fresh_gets(gateway, [path], problems)
                if pause_names:
                    check_records(control, pause_names, problems, calls=1)
                if bootstrap is not None:
                    go_cold = fresh_gets(gateway, go_paths, problems)
                    go_warm = fresh_gets(gateway, go_paths, problems)
                    go_init_ms = check_records(control, go_names, problems)
                if boxed_routes:
                    boxed_first, boxed_warm, boxed_fork = time_sandboxed(gateway, control, sandbox_paths,
                                                                         sandbox_names, problems)
                    boxed_init = check_sandboxed_records(control, sandbox_names, problems)
            log_problems = hearth.problems()
    except (BenchError, OSError, subprocess.SubprocessError, http.client.HTTPException) as exc:
        print(f"coldstart: could not run: {exc}", file=sys.stderr)
        return 1
    if not cold or not fresh or not bare:
        print(f"coldstart: no successful samples; problems: {problems[:SHOWN_PROBLEMS]}", file=sys.stderr)
        return 1

    print(f"# Cold start, hello world, {args.n} functions ({os.cpu_count()} CPUs, Python "
          f"{sys.version.split()[0]})\n")
    print(f"Hearth memory enforcement: {memory_enforcement(hearth)}")
    print(f"Hearth CPU shares: {cpu_shares(hearth)}\n")
    print(markdown_table(["measurement", "p50 ms", "p99 ms", "samples"], [
        row("fork()+waitpid (floor)", fork),
        row("fresh interpreter: python -c 'import hello; hello.handler()'", fresh),
        row("bare uvicorn GET, fresh connection (HTTP floor)", bare),
        row("Hearth cold start GET, fresh connection", cold),
        row("Hearth warm GET, fresh connection", warm),
        *([row(f"Hearth cold start GET after {args.pause_ms:g} ms without a request", paused)] if paused else []),
        *([row("fresh Go process: exec the bootstrap until it exits", go_fresh),
           row("Hearth Go (provided) cold start GET, fresh connection", go_cold),
           row("Hearth Go (provided) warm GET, fresh connection", go_warm)] if go_cold else []),
        *([row("bwrap + fresh interpreter: the same, in a function's sandbox", boxed_fresh),
           row("Hearth sandboxed first cold start GET (starts the sandbox)", boxed_first),
           row("Hearth sandboxed warm GET, fresh connection", boxed_warm),
           row("Hearth sandboxed cold start GET, forked in a running sandbox", boxed_fork)] if boxed_first else []),
    ]))
    cold_p50 = percentile(cold, 50)
    print()
    print(f"Hearth cold p50 / fresh interpreter p50: {cold_p50 / percentile(fresh, 50):.2f}")
    print(f"Hearth cold p50 - bare uvicorn p50: {ms(cold_p50 - percentile(bare, 50))} ms")
    print(f"Target Hearth cold p50 <= {TARGET_COLD_P50_MS:g} ms: {ms(cold_p50)} ms "
          f"{verdict(cold_p50 * 1000 <= TARGET_COLD_P50_MS)}")
    if init_ms:
        print(f"Hearth Init Duration (records): p50 {percentile(init_ms, 50):.2f} ms, "
              f"p99 {percentile(init_ms, 99):.2f} ms")
    if go_cold:
        go_p50 = percentile(go_cold, 50)
        print(f"Target Hearth Go cold p50 <= {TARGET_GO_COLD_P50_MS:g} ms: {ms(go_p50)} ms "
              f"{verdict(go_p50 * 1000 <= TARGET_GO_COLD_P50_MS)}")
        if go_init_ms:
            print(f"Hearth Go Init Duration (records): p50 {percentile(go_init_ms, 50):.2f} ms, "
                  f"p99 {percentile(go_init_ms, 99):.2f} ms")
    else:
        print("Hearth Go (provided) cold start: not measured, `go` is not installed (.ci/run installs golang-go)")
    if boxed_first:
        print(f"Hearth sandboxed first cold p50 - Hearth cold p50 (what the sandbox's start costs once): "
              f"{ms(percentile(boxed_first, 50) - cold_p50)} ms; sandboxed cold (fork) p50 - Hearth cold p50: "
              f"{ms(percentile(boxed_fork, 50) - cold_p50)} ms")
        first_init, fork_init = boxed_init
        if first_init and fork_init:
            print(f"Hearth sandboxed Init Duration (records): first p50 {percentile(first_init, 50):.2f} ms, "
                  f"forked p50 {percentile(fork_init, 50):.2f} ms, p99 {percentile(fork_init, 99):.2f} ms")
    elif sandbox_names and not find_bwrap():
        print("Hearth sandboxed cold start: not measured, `bwrap` is not installed (apt-get install bubblewrap)")
    elif sandbox_names:
        print("Hearth sandboxed cold start: no successful sample (see the problems below)")
    print("Cold-start check: " + (f"all {args.n} first calls cold and successful" if not problems
                                  else f"{len(problems)} problems"))
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"  - {problem}")
    if len(problems) > SHOWN_PROBLEMS:
        print(f"  - ... and {len(problems) - SHOWN_PROBLEMS} more")
    print(f"Hearth log lines that look like errors: {len(log_problems)}")
    for line in log_problems[:SHOWN_PROBLEMS]:
        print(f"  | {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
