"""The platform: pools for a project's functions, the runtime that feeds them, and the records they leave.

Both HTTP surfaces (gateway and control API) and, later, the triggers call ``Platform.invoke``; nothing else
reaches a pool.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hearth import errors
from hearth.config.settings import Settings
from hearth.gateway.routes import RouteTable
from hearth.model import FunctionSpec, Project
from hearth.pool.instance import InvokeRequest
from hearth.pool.limits import MemoryLimiter, detect_memory_limiter
from hearth.pool.pool import FunctionPool, Invocation
from hearth.runtimes.python.runtime import PythonRuntime
from hearth.telemetry.records import RecordLog

REAP_INTERVAL_S = 0.25


class Platform:
    """Runs one project's functions with Lambda semantics."""

    def __init__(self, project: Project, settings: Settings, records: RecordLog | None = None) -> None:
        self.settings = settings
        self.records = records or RecordLog()
        self.project = project
        self.routes = RouteTable(project.routes)
        self.pools: dict[str, FunctionPool] = {}
        self.limiter: MemoryLimiter | None = None
        self.runtime: PythonRuntime | None = None
        self._scratch = Path(tempfile.mkdtemp(prefix="hearth-"))
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Detect the host's limits, start the zygote and create the pools."""
        self.limiter = detect_memory_limiter(self.settings.memory_enforcement)
        self.runtime = PythonRuntime(self.limiter, self.settings.base_env, python=self.settings.python,
                                     pycache_root=self._scratch / "pycache")
        await self.runtime.ensure_zygote()
        for spec in self.project.functions.values():
            self.pools[spec.name] = self._pool(spec)
        self._reaper = asyncio.create_task(self._reap_forever())

    def _pool(self, spec: FunctionSpec) -> FunctionPool:
        assert self.runtime is not None
        return FunctionPool(spec, self.runtime, default_limit=self.settings.concurrency_limit,
                            on_record=self.records.add)

    async def invoke(self, function: str, request: InvokeRequest) -> Invocation:
        """Run one invocation of ``function``; raises ``ResourceNotFound`` or ``TooManyRequests``."""
        pool = self.pools.get(function)
        if pool is None:
            raise errors.ResourceNotFound(f"Function not found: {function}; the project declares "
                                          f"{', '.join(sorted(self.pools)) or 'no functions'}")
        return await pool.invoke(request)

    def reload(self, project: Project | None = None) -> None:
        """New code (and, when given, a new manifest): later invocations run on fresh instances."""
        if project is not None:
            self.project = project
            self.routes = RouteTable(project.routes)
        for name in list(self.pools):
            if name not in self.project.functions:
                self.pools.pop(name).close()
        for spec in self.project.functions.values():
            pool = self.pools.get(spec.name)
            if pool is None:
                self.pools[spec.name] = self._pool(spec)
            else:
                pool.update(spec)
        if self.runtime is not None:
            self.runtime.code_generation += 1
            if self.runtime.pycache_root is not None:
                old = self.runtime.pycache_root / f"g{self.runtime.code_generation - 1}"
                shutil.rmtree(old, ignore_errors=True)

    def instances(self) -> list[dict[str, Any]]:
        """Every live instance, for the control API and the tests."""
        listing = []
        for name, pool in self.pools.items():
            for instance in pool.live:
                listing.append({"function": name, "version": pool.spec.version, "id": instance.id,
                                "pid": instance.pid, "state": instance.lifecycle.state.value,
                                "generation": instance.generation})
        return listing

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            for pool in list(self.pools.values()):
                pool.reap()

    async def close(self) -> None:
        """Stop every instance and the zygote, and remove what the platform created."""
        if self._reaper is not None:
            self._reaper.cancel()
        for pool in self.pools.values():
            pool.close()
        if self.runtime is not None:
            await asyncio.sleep(0)  # let kill reports arrive before the zygote goes
            await self.runtime.close()
        shutil.rmtree(self._scratch, ignore_errors=True)
