"""The ``http`` runtime: creates server processes (through the Python runtime's zygote) and their pools.

It is registered with the platform like the other runtimes (``Runtime.create`` gives a COLD instance), but a
function version's instances are owned by a ``ServerPool`` (``pool.py``), not a ``FunctionPool``: a server takes
many requests at once, and the gateway streams HTTP to it instead of invoking it with an event.
"""

from __future__ import annotations

import asyncio

from hearth.billing.prices import Billing
from hearth.model import FunctionSpec
from hearth.pool.concurrency import Concurrency
from hearth.pool.deadlines import DeadlineSweep
from hearth.runtimes.http.pool import ServerPool
from hearth.runtimes.http.process import STOP_GRACE_S, ServerProcess
from hearth.runtimes.python.runtime import PythonRuntime
from hearth.telemetry.records import RecordLog

KILL_WAIT_S = 2.0


class HttpRuntime:
    """Starts the servers of ``http`` functions; ``close`` stops every one of them."""

    name = "http"

    def __init__(self, python: PythonRuntime) -> None:
        self.python = python  # owns the zygote, the memory limiter and the instance base environment
        self.deadlines = DeadlineSweep()  # the per-request timeouts of every proxied request in flight
        self.processes: set[ServerProcess] = set()

    def create(self, spec: FunctionSpec, generation: int, *, provisioned: bool = False) -> ServerProcess:
        process = ServerProcess(self, spec, self.python.new_instance_id(), generation)
        self.processes.add(process)
        return process

    def pool(self, spec: FunctionSpec, concurrency: Concurrency, records: RecordLog,
             billing: Billing = Billing()) -> ServerPool:
        """The pool that owns ``spec``'s server."""
        return ServerPool(spec, self, concurrency=concurrency, records=records, billing=billing)

    def exited(self, process: ServerProcess) -> None:
        self.processes.discard(process)

    async def close(self) -> None:
        """Stop every server (SIGTERM, then SIGKILL after the grace period) and wait for their exit reports."""
        processes = [process for process in self.processes if not process.exited]
        for process in processes:
            process.stop()
        if processes:
            await asyncio.wait([asyncio.ensure_future(p.wait_exited(STOP_GRACE_S)) for p in processes])
        for process in processes:
            if not process.exited:
                process.kill()
        if processes:
            await asyncio.wait([asyncio.ensure_future(p.wait_exited(KILL_WAIT_S)) for p in processes])
        self.processes.clear()
