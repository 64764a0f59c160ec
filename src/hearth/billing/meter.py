"""The meter: every invocation's usage and the provisioned concurrency held, tallied in memory and written to the
meter's file (``billing/store.py``) every few seconds and at shutdown.

- **Invocations.** ``Meter.observe`` is a ``RecordLog`` sink: one dictionary lookup on (function, version, hour)
  and a few integer additions on the event loop (requests, errors, cold starts, billed ms, billed ms × MB, duration
  and Init in µs, the latest start). Throttled calls are not billed and not counted. The billed milliseconds are
  the record's own, which the pool computed with the platform's ``Billing`` (granularity, Init billed or not).
- **Provisioned concurrency.** Once a second the meter asks the platform what each pool holds (``held``: function,
  version, memory, live provisioned instances) and adds instances × the milliseconds since its last look, in
  integer milliseconds of a monotonic clock, so rounding never accumulates. A change is counted from the look that
  sees it: each start or release of provisioned instances moves the total by less than a second's worth.
- **Flushing.** Every ``flush_s`` the pending tallies are swapped out (O(1) on the loop) and added to the file in
  one transaction by a worker thread; if that fails they are merged back and tried again with the next flush.
  ``close`` (a clean stop, after the pools have stopped) samples once more and writes what is left, so nothing
  accepted is lost; a SIGKILL loses at most the tallies of the last ``flush_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from hearth.billing.store import HOUR_S, RETENTION_DAYS, MeterStore, Usage
from hearth.errors import ServiceError
from hearth.model import InvocationRecord
from hearth.telemetry.records import InstanceOutput

log = logging.getLogger("hearth.meter")
SAMPLE_S = 1.0  # how often provisioned concurrency is looked at
EXPIRE_EVERY_S = 3600.0
# ``observe`` unpacks a record's first fields by position (cheaper than reading them by name): a reordering of
# InvocationRecord must fail here, at import, not miscount silently.
_UNPACKED = ("request_id", "function", "version", "trigger", "start", "duration_ms", "billed_ms", "memory_mb",
             "max_memory_mb", "init_ms", "status")
if InvocationRecord._fields[:len(_UNPACKED)] != _UNPACKED:
    raise ImportError("hearth.billing.meter: InvocationRecord's fields moved; update Meter.observe")


class Held(NamedTuple):
    """Provisioned instances one pool holds now."""

    function: str
    version: str
    memory_mb: int
    instances: int


class _Tally:
    """One (function, version, hour)'s usage since the last flush."""

    __slots__ = ("requests", "errors", "cold_starts", "billed_ms", "billed_mb_ms", "duration_us", "init_us",
                 "provisioned_ms", "provisioned_mb_ms", "last_start")

    def __init__(self) -> None:
        self.requests = self.errors = self.cold_starts = 0
        self.billed_ms = self.billed_mb_ms = self.duration_us = self.init_us = 0
        self.provisioned_ms = self.provisioned_mb_ms = 0
        self.last_start = 0.0  # none yet (a record's start is always later)

    def usage(self, key: tuple[str, str, int]) -> Usage:
        function, version, hour = key
        return Usage(function, version, hour * HOUR_S, self.requests, self.errors, self.cold_starts, self.billed_ms,
                     self.billed_mb_ms, self.duration_us, self.init_us, self.provisioned_ms, self.provisioned_mb_ms,
                     self.last_start or None)

    def merge(self, other: _Tally) -> None:
        for name in _Tally.__slots__[:-1]:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_start = max(self.last_start, other.last_start)


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Meter:
    """Tallies usage and writes it to ``store``; see the module docstring."""

    def __init__(self, store: MeterStore, *, flush_s: float, held: Callable[[], Iterable[Held]] = tuple,
                 clock: Callable[[], float] = time.time, monotonic_ms: Callable[[], int] = _monotonic_ms) -> None:
        self.store = store
        self.flush_s = flush_s
        self.held = held
        self.clock = clock
        self.monotonic_ms = monotonic_ms
        self._tallies: dict[tuple[str, str, int], _Tally] = {}
        self._sampled_at: int | None = None
        self._expired_at = 0.0
        self._writing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.failed_flushes = 0

    # -- on the event loop, per invocation -----------------------------------------------------------------------

    def observe(self, item: InvocationRecord | InstanceOutput) -> None:
        """A ``RecordLog`` sink: add one invocation to its hour's tally (~0.7 µs: one unpacking of the record's
        fields instead of an attribute read per field, integer additions only)."""
        if type(item) is not InvocationRecord:
            return
        _, function, version, _, start, duration_ms, billed, memory_mb, _, init_ms, status = item[:11]
        if status == "throttled":
            return
        key = (function, version, int(start // HOUR_S))
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
        tally.requests += 1
        if status != "success":
            tally.errors += 1
        tally.billed_ms += billed
        tally.billed_mb_ms += billed * memory_mb
        tally.duration_us += int(duration_ms * 1000 + 0.5)  # durations are never negative: round half up
        if init_ms is not None:
            tally.cold_starts += 1
            tally.init_us += int(init_ms * 1000 + 0.5)
        if start > tally.last_start:
            tally.last_start = start

    def sample(self) -> None:
        """Add the provisioned instances held now × the time since the last sample (the first only starts)."""
        now = self.monotonic_ms()
        last, self._sampled_at = self._sampled_at, now
        if last is None or now <= last:
            return
        elapsed = now - last
        hour = int(self.clock() // HOUR_S)
        for held in self.held():
            if held.instances <= 0:
                continue
            key = (held.function, held.version, hour)
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = _Tally()
            tally.provisioned_ms += held.instances * elapsed
            tally.provisioned_mb_ms += held.instances * elapsed * held.memory_mb

    # -- writing ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.sample()
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def _run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        flush_at = loop.time() + self.flush_s
        while True:
            await asyncio.sleep(min(SAMPLE_S, max(0.0, flush_at - loop.time())))
            self.sample()
            if loop.time() >= flush_at:
                flush_at = loop.time() + self.flush_s
                try:
                    await self.flush()
                except ServiceError as error:  # kept in memory; the next flush tries again
                    log.error("%s; its tallies are kept for the next try", error.message)

    async def flush(self) -> None:
        """Write the pending tallies (one transaction, in a worker thread); on failure they stay pending and
        ``ServiceError`` says why."""
        async with self._writing:
            tallies, self._tallies = self._tallies, {}
            if not tallies:
                return
            now = self.clock()
            expire = None
            if now - self._expired_at >= EXPIRE_EVERY_S:
                expire, self._expired_at = now - RETENTION_DAYS * 86400, now
            try:
                await asyncio.to_thread(self._write, tallies, expire)
            except ServiceError:
                self.failed_flushes += 1
                self._restore(tallies)
                raise

    def _write(self, tallies: dict[tuple[str, str, int], _Tally], expire_before: float | None) -> None:
        self.store.add([tally.usage(key) for key, tally in tallies.items()], expire_before=expire_before)

    def _restore(self, tallies: dict[tuple[str, str, int], _Tally]) -> None:
        for key, tally in tallies.items():
            pending = self._tallies.get(key)
            if pending is None:
                self._tallies[key] = tally
            else:
                pending.merge(tally)

    async def close(self) -> None:
        """Stop sampling and write everything accepted (call it after the pools have stopped)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.sample()
        try:
            await self.flush()
        except ServiceError as error:
            log.error("%s; the usage of the last %.0f s is lost", error.message, self.flush_s)
        await asyncio.to_thread(self.store.close)

    # -- reading ------------------------------------------------------------------------------------------------

    async def usage(self, since: float, until: float, function: str | None = None) -> list[Usage]:
        """The stored usage of the hours in the window, after writing what is pending (so it counts too)."""
        await self._flush_for_reading()
        return await asyncio.to_thread(self.store.usage, since, until, function)

    async def last_invoked(self) -> dict[str, float]:
        """Each metered function's latest invocation start."""
        await self._flush_for_reading()
        return await asyncio.to_thread(self.store.last_invoked)

    async def _flush_for_reading(self) -> None:
        self.sample()
        try:
            await self.flush()
        except ServiceError as error:  # report what is stored; the pending tallies stay for the next try
            log.error("%s; reading what is stored", error.message)
