"""Power tuning's runs: one function version invoked at several memory sizes, each on a temporary version.

A temporary version is the version's spec with another ``memory_mb``, run by a pool of its own
(``Platform.scratch_pool``) that the catalog never sees: no version number is taken (Lambda never reuses one, so
publishing throwaway versions would show for good), ``$LATEST`` and the published versions stay as they are, no
route or alias can reach it, and nothing needs deleting afterwards but its instances, which ``run`` stops however it
ends (results, errors or cancellation). The invocations are real ones: they take the function's concurrency and
leave records with trigger ``tune`` in the record log (``hearth logs``, metrics), as any call that used compute.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hearth import errors
from hearth.billing.tuning import SizeResult, summarize
from hearth.ids import new_request_id, new_trace_id
from hearth.model import FunctionSpec, InvocationRecord
from hearth.pool.instance import InvokeRequest

if TYPE_CHECKING:
    from hearth.platform import Platform

MAX_RUNS = 1000
MAX_SIZES = 20
Progress = Callable[[int, int, int], None]  # (memory_mb, invocations done, invocations in all) of one size


class Tuner:
    """Runs ``spec`` with ``payload`` ``runs`` warm times (after one cold start) at each memory size."""

    def __init__(self, platform: Platform, spec: FunctionSpec, payload: Any, runs: int,
                 progress: Progress | None = None) -> None:
        self.platform = platform
        self.spec = spec
        self.payload = payload
        self.runs = runs
        self.progress = progress or (lambda memory_mb, done, total: None)

    async def run(self, sizes: list[int], parallel: bool = False) -> list[SizeResult]:
        """Every size's result, in the order of ``sizes``; with ``parallel`` the sizes run at the same time."""
        if parallel:
            return list(await asyncio.gather(*(self.size(memory_mb) for memory_mb in sizes)))
        return [await self.size(memory_mb) for memory_mb in sizes]

    async def size(self, memory_mb: int) -> SizeResult:
        """One cold and ``runs`` warm invocations at ``memory_mb``, one after another, on a temporary version."""
        records: list[InvocationRecord] = []

        def keep(record: InvocationRecord) -> None:
            records.append(record)
            self.platform.records.add(record)

        pool = self.platform.scratch_pool(dataclasses.replace(self.spec, memory_mb=memory_mb), keep)
        total = self.runs + 1
        try:
            for done in range(1, total + 1):
                request = InvokeRequest(new_request_id(), self.payload, trigger="tune", trace_id=new_trace_id())
                try:
                    await pool.invoke(request)
                except errors.TooManyRequests:
                    pass  # recorded as throttled: counted as a failure of this size
                self.progress(memory_mb, done, total)
        finally:
            self.platform.close_scratch_pool(pool)
        return summarize(memory_mb, records)
