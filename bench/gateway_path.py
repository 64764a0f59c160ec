"""The Python work on a warm request's path through the gateway, counted rather than timed.

Warm throughput is bounded by the gateway's CPU per request (``docs/architecture.md``, "Where the gateway's time
goes"), and on a noisy VM a change of a few percent in it does not show in wrk's figures. This script runs the
gateway application in process against a warm hello function whose instance is replaced by a fake that answers
every INVOKE at once (on the next turn of the loop, as a real reply would arrive). It prints:

  - the bytecodes and Python calls per request (``sys.settrace`` with opcode events), which do not depend on how
    fast the machine is: compare two trees with ``PYTHONPATH=<tree>/src``;
  - where those bytecodes go, by function (``--top``);
  - the event loop thread's CPU per request without the tracer (``time.thread_time``), which does.

What it leaves out: the HTTP server (the scope is made here), the instance's own work, the socket calls, and the
caches an instance's work evicts under load. A real request costs the gateway 2-4 times what this prints.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any, cast

import uvloop
from _common import write_project

from hearth.catalog import Catalog
from hearth.config.manifest import load_project
from hearth.config.settings import Settings
from hearth.gateway.app import Gateway
from hearth.platform import Platform
from hearth.runtimes.python import protocol
from hearth.server import tune_gc
from hearth.store.code import CodeStore
from hearth.store.sqlite import SqliteStore
from hearth.telemetry.records import RecordLog

BODY = b'{"message":"hello"}'  # the bench hello function's
FAKE_BODY = b'{"message":"hello from the fake instance"}'
HEADERS = [(b"host", b"127.0.0.1:8080")]  # what wrk sends
WARM_UP = 500


def scope() -> dict[str, Any]:
    """The scope Hearth's HTTP server makes for ``GET /hello`` from wrk."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "method": "GET",
            "path": "/hello", "raw_path": b"/hello", "query_string": b"", "root_path": "", "headers": HEADERS,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}


class FakeChannel:
    """Stands in for an instance's channel: every frame written is answered with a RESULT of ``FAKE_BODY``."""

    def __init__(self, instance: Any) -> None:
        self.instance = instance
        self.loop = asyncio.get_running_loop()
        self.reply = protocol.frame(protocol.RESULT, protocol.RESULT_HEAD.pack(0.05, 9000, 0) + FAKE_BODY)

    def write(self, data: bytes) -> None:
        self.loop.call_soon(self.instance.data_received, self.reply)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


class Counter:
    """A ``sys.settrace`` tracer counting bytecodes (by function) and calls, coroutine resumptions included."""

    def __init__(self) -> None:
        self.calls = 0
        self.by_function: dict[str, int] = {}

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "call":
            self.calls += 1
        elif event == "opcode":
            code = frame.f_code
            name = f"{code.co_filename.rsplit('/src/', 1)[-1]}:{code.co_name}"
            self.by_function[name] = self.by_function.get(name, 0) + 1
        return self


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hearth-bench-path-") as scratch:
        project = Path(scratch)
        write_project(project, {"/hello": "hello"}, memory_mb=1769)
        catalog = Catalog(SqliteStore.memory(), CodeStore(project / ".code"), concurrency_limit=1000)
        catalog.apply(load_project(project), prune=True)
        platform = Platform(catalog, Settings(expose_errors=True), RecordLog())
        await platform.start()
        try:
            tune_gc()
            app = Gateway(platform)
            sent: list[dict[str, Any]] = []
            request = {"type": "http.request", "body": b"", "more_body": False}

            async def receive() -> dict[str, Any]:
                return request

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            async def serve(count: int) -> None:
                for _ in range(count):
                    sent.clear()
                    await app(scope(), receive, send)

            await serve(1)  # the cold start: a real instance, whose channel is then replaced
            if sent[-1].get("body") != BODY:
                raise SystemExit(f"gateway_path: the real hello function answered {sent[-1]!r}")
            for pool in platform.pools.values():
                for instance in pool.live:
                    cast(Any, instance)._transport = FakeChannel(instance)  # (a Python instance's channel)
            await serve(WARM_UP)
            counter = Counter()
            sys.settrace(counter)
            try:
                await serve(args.traced)
            finally:
                sys.settrace(None)
            started = time.thread_time()
            await serve(args.timed)
            cpu_us = (time.thread_time() - started) / args.timed * 1e6
            if sent[-1].get("body") != FAKE_BODY:
                raise SystemExit(f"gateway_path: the last answer was {sent[-1]!r}, not the fake instance's")
            return {"bytecodes": sum(counter.by_function.values()) / args.traced, "calls": counter.calls / args.traced,
                    "by_function": {name: count / args.traced for name, count in counter.by_function.items()},
                    "cpu_us": cpu_us}
        finally:
            await platform.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traced", type=int, default=1000, help="requests counted under the tracer")
    parser.add_argument("--timed", type=int, default=20000, help="requests timed without it")
    parser.add_argument("--top", type=int, default=15, help="functions to list by their bytecodes")
    args = parser.parse_args()
    found = uvloop.run(measure(args))
    print("# The gateway's Python per warm request (in process, fake instance)\n")
    print(f"bytecodes per request: {found['bytecodes']:.0f}")
    print(f"Python calls per request (coroutine resumptions included): {found['calls']:.1f}")
    print(f"event loop thread CPU per request: {found['cpu_us']:.1f} µs (depends on the machine's speed)\n")
    print("| bytecodes | function |\n|---:|---|")
    ranked = sorted(found["by_function"].items(), key=lambda item: -item[1])
    for name, count in ranked[:args.top]:
        print(f"| {count:.0f} | `{name}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
