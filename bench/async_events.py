"""Asynchronous invocations with durability on: how many events per second ``hearth serve`` accepts and runs, and
the delay from accepting an event (the 202) to the start of its invocation.

One ``hearth serve`` runs on free ports in a temporary data folder with a no-op function ``noop``. Events are
Lambda Invoke calls with ``X-Amz-Invocation-Type: Event`` on the control API, as boto3 sends them; each 202 means
the event is committed to the event store (``events.db``, SQLite WAL).

  (a) sustained: wrk -t{--threads} -c{--connections} -d{--duration}s posts events as fast as they are accepted,
      while the dispatcher runs them; the run ends when the event store is empty again (every accepted event ran).
      Printed: events accepted per second (wrk), and events run per second over the whole run (accepted events /
      time from the first accept to the empty store). Target: run rate >= 2,000/s.
  (b) delay: --events events one after another on one keep-alive connection, at most --rate per second; for each,
      the time from its 202 to the start of its invocation (the invocation record's ``start``): p50 and p99.

No peer platform is installed here (LocalStack, SAM local), so there is no comparison column. The figure beside it
is the synchronous rate through the same control API (RequestResponse invokes, wrk, same connections), which an
asynchronous event pays on top of: storing, claiming and deleting it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import HTTP_TIMEOUT_S, BenchError, Service, address, markdown_table, percentile, start_platform

DRAIN_TIMEOUT_S = 300.0
NOOP = "def handler(event, context):\n    return None\n"
MANIFEST = '[functions.noop]\nhandler = "noop.handler"\nmemory_mb = 128\n'
INVOKE_PATH = "/2015-03-31/functions/noop/invocations"
WRK_SCRIPT = """wrk.method = "POST"
wrk.body = '{"n": 1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
%(extra)s
"""


def deploy(root: Path, control: str, data_dir: Path) -> None:
    (root / "noop.py").write_text(NOOP, encoding="utf-8")
    (root / "hearth.toml").write_text(MANIFEST, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "hearth", "deploy", str(root), "--endpoint", control,
                           "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise BenchError(f"hearth deploy failed:\n{done.stderr[-2000:]}")


def pending(events_db: Path) -> int:
    """Events still in the store (read-only, beside the server's own connection)."""
    with sqlite3.connect(f"file:{events_db}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute("SELECT count(*) FROM messages WHERE queue = '@async'").fetchone()[0])


def wrk(url: str, script: Path, args: argparse.Namespace) -> dict[str, float]:
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "-s", str(script), url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {done.stderr or done.stdout}")
    out = done.stdout
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", out, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rps is None or total is None:
        raise BenchError(f"unexpected wrk output:\n{out}")
    return {"rps": float(rps.group(1)), "requests": float(total.group(1)), "non2xx": float(bad.group(1)) if bad else 0}


def sustained(control: str, token: str, events_db: Path, scratch: Path, args: argparse.Namespace) -> dict[str, float]:
    script = scratch / "event.lua"
    script.write_text(WRK_SCRIPT % {"token": token, "extra": 'wrk.headers["X-Amz-Invocation-Type"] = "Event"'})
    started = time.perf_counter()
    result = wrk(control + INVOKE_PATH, script, args)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while pending(events_db) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = pending(events_db)
    if left:
        raise BenchError(f"{left} events were still waiting {DRAIN_TIMEOUT_S:g} s after wrk stopped")
    elapsed = time.perf_counter() - started
    if result["non2xx"]:
        raise BenchError(f"{result['non2xx']:.0f} events were not accepted (non-2xx)")
    return {"accepted_rps": result["rps"], "events": result["requests"], "run_rps": result["requests"] / elapsed,
            "seconds": elapsed}


def synchronous(control: str, token: str, scratch: Path, args: argparse.Namespace) -> float:
    script = scratch / "sync.lua"
    script.write_text(WRK_SCRIPT % {"token": token, "extra": ""})
    result = wrk(control + INVOKE_PATH, script, args)
    if result["non2xx"]:
        raise BenchError(f"{result['non2xx']:.0f} synchronous invokes failed")
    return result["rps"]


def delays(control: str, token: str, events_db: Path, args: argparse.Namespace) -> list[float]:
    host, port = address(control)
    connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_S)
    accepted: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "X-Amz-Invocation-Type": "Event"}
    try:
        for n in range(args.events):
            sent = time.perf_counter()
            connection.request("POST", INVOKE_PATH, body=json.dumps({"n": n}), headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 202:
                raise BenchError(f"an event was answered {response.status}")
            accepted[response.headers["x-amzn-requestid"]] = time.time()
            time.sleep(max(0.0, 1 / args.rate - (time.perf_counter() - sent)))
    finally:
        connection.close()
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while pending(events_db) and time.monotonic() < deadline:
        time.sleep(0.05)
    connection = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT_S)
    try:
        connection.request("GET", f"/hearth/invocations?function=noop&limit={args.events}",
                           headers={"Authorization": f"Bearer {token}"})
        records = json.loads(connection.getresponse().read())["invocations"]
    finally:
        connection.close()
    starts = {record["request_id"]: record["start"] for record in records}
    missing = [request_id for request_id in accepted if request_id not in starts]
    if missing:
        raise BenchError(f"{len(missing)} accepted events have no invocation record, e.g. {missing[0]}")
    return [starts[request_id] - at for request_id, at in accepted.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="wrk seconds (%(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (%(default)s)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (%(default)s)")
    parser.add_argument("--events", type=int, default=300, help="events for the delay measurement (%(default)s)")
    parser.add_argument("--rate", type=float, default=100.0, help="their rate per second at most (%(default)s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hearth-bench-async-") as scratch_name:
        scratch = Path(scratch_name)
        data_dir = scratch / "data"
        service: Service
        service, _gateway, control = start_platform("hearth serve", ["serve", "--data-dir", str(data_dir)])
        try:
            token = json.loads((data_dir / "credentials.json").read_text())["token"]
            project = scratch / "noop"
            project.mkdir()
            deploy(project, control, data_dir)
            print("warm-up, then synchronous invokes ...", file=sys.stderr, flush=True)
            short = argparse.Namespace(**{**vars(args), "duration": 2})
            synchronous(control, token, scratch, short)  # warm instances and connections
            sync_rps = synchronous(control, token, scratch, args)
            print("asynchronous events ...", file=sys.stderr, flush=True)
            result = sustained(control, token, data_dir / "events.db", scratch, args)
            print("delay from 202 to start ...", file=sys.stderr, flush=True)
            waits = delays(control, token, data_dir / "events.db", args)
            problems = service.problems()
        finally:
            service.stop()

    met = "met" if result["run_rps"] >= 2000 else "MISSED"
    print(markdown_table(["measure", "value"], [
        ["events accepted / s (wrk, 202 once stored)", f"{result['accepted_rps']:,.0f}"],
        ["events run / s, first accept to empty store", f"{result['run_rps']:,.0f} (target >= 2,000: {met})"],
        ["events in the run", f"{result['events']:,.0f} in {result['seconds']:.1f} s"],
        ["synchronous invokes / s, same API and connections", f"{sync_rps:,.0f}"],
        ["async run rate / synchronous rate", f"{result['run_rps'] / sync_rps:.2f}"],
        [f"delay 202 → start, p50 ({len(waits)} events at <= {args.rate:g}/s)",
         f"{percentile(waits, 50) * 1e3:.2f} ms"],
        ["delay 202 → start, p99", f"{percentile(waits, 99) * 1e3:.2f} ms"],
    ]))
    for line in problems[:10]:
        print(f"hearth said: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
