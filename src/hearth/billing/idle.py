"""Idle functions: which functions went without invocations for a number of days, what they still hold, and
switching them off (``auto_disable_after_days``).

A function's idle time runs from the latest of: its creation, its last metered invocation (``Meter.last_invoked``),
its last ``hearth enable``, and the start of metering (``MeterStore.started``; without it, every function older
than the meter would look idle the day Hearth is upgraded). ``scan(days)`` lists the functions idle for at least
that long, and every disabled one, with their deployed code (the distinct packages of ``$LATEST`` and its
versions) and the provisioned instances configured for them, with what those cost per 30 days held.

With ``auto_disable_after_days`` set, ``sweep`` runs at start and every ``interval_s``: each function idle that
long, unless its manifest says ``keep_alive = true``, is disabled (``Catalog.disable_function``: recorded in the
audit log; calls answer ``FunctionDisabled``, its schedules and queue pollers are held, its provisioned instances
released). ``hearth enable NAME`` undoes it and restarts the count. Every decision reads ``clock``, the seam tests
move time through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from hearth.billing.prices import usage_cost
from hearth.errors import ServiceError
from hearth.model import AuditEntry

if TYPE_CHECKING:
    from hearth.platform import Platform

log = logging.getLogger("hearth.idle")
DAY_S = 86_400
COST_WINDOW_MS = 30 * DAY_S * 1000  # provisioned instances are priced per 30 days held


@dataclass(frozen=True)
class IdleFunction:
    """A function that has been idle (or is disabled), with what it still holds."""

    function: str
    last_invoked: float | None  # epoch seconds; None: never since metering began
    idle_since: float  # epoch seconds: the latest of creation, last invocation, last enabling, metering's start
    code_bytes: int  # the distinct code packages of $LATEST and its versions (0 for a live folder)
    provisioned: int  # instances configured (held unless the function is disabled)
    provisioned_cost_30d: Decimal  # what holding them costs per 30 days, at the function's prices
    keep_alive: bool
    disabled: AuditEntry | None  # the entry that disabled it


class IdleMonitor:
    """Finds idle functions and (with ``after_days``) disables them; see the module docstring."""

    def __init__(self, platform: Platform, *, after_days: int | None, interval_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.after_days = after_days
        self.interval_s = interval_s
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def scan(self, days: float) -> list[IdleFunction]:
        """Functions without an invocation for at least ``days`` (and every disabled one), longest idle first."""
        catalog = self.platform.catalog
        last_invoked = await self.platform.meter.last_invoked()
        enabled = catalog.store.last_audit("enabled")
        started = self.platform.meter.store.started
        cutoff = self.clock() - days * DAY_S
        found = []
        for name, record in catalog.functions.items():
            last = last_invoked.get(name)
            since = max(_epoch(record.created), last or 0.0, enabled.get(name, 0.0), started)
            disabled = catalog.disabled.get(name)
            if since > cutoff and disabled is None:
                continue
            packages = {spec.code_sha256: spec.code_size for spec in catalog.versions_of(name) if spec.code_sha256}
            held_mb_ms = 0
            held = 0
            for version, count in catalog.provisioned_versions(name).items():
                held += count
                held_mb_ms += count * catalog.versions[name][version].memory_mb * COST_WINDOW_MS
            cost = usage_cost(self.platform.prices(name), 0, 0, held_mb_ms)
            found.append(IdleFunction(name, last, since, sum(packages.values()), held, cost,
                                      record.latest.keep_alive, disabled))
        found.sort(key=lambda item: (item.idle_since, item.function))
        return found

    async def sweep(self) -> list[AuditEntry]:
        """Disable every function idle for ``after_days`` that may be (not ``keep_alive``); returns the entries."""
        if self.after_days is None:
            return []
        reason = f"no invocations for {self.after_days} days (auto_disable_after_days = {self.after_days})"
        done = []
        for item in await self.scan(self.after_days):
            if item.keep_alive or item.disabled is not None:
                continue
            entry = self.platform.catalog.disable_function(item.function, reason, self.clock())
            if entry is not None:
                log.warning("disabled %s: %s; `hearth enable %s` restores it", item.function, reason, item.function)
                done.append(entry)
        return done

    def disable(self, name: str, reason: str) -> AuditEntry | None:
        """Disable ``name`` now (``hearth disable``); None when it was disabled already."""
        return self.platform.catalog.disable_function(name, reason, self.clock())

    def enable(self, name: str) -> AuditEntry | None:
        """Enable ``name`` now (``hearth enable``); its idle time starts again. None when it was not disabled."""
        return self.platform.catalog.enable_function(name, "hearth enable", self.clock())

    # -- the loop ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.after_days is not None:
            self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except ServiceError as error:  # the state store or the meter could not be read: try next time
                log.error("the idle check failed (trying again in %.0f s): %s", self.interval_s, error.message)
            await asyncio.sleep(self.interval_s)


def _epoch(iso: str) -> float:
    """A stored ISO 8601 time (``2026-11-21T10:10:10.123+0000``) as epoch seconds; 0 when it cannot be read."""
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0
