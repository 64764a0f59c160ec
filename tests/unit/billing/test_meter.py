"""The meter: records tallied per function, version and hour; provisioned instances per second held; flushes that
lose nothing accepted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hearth.billing.meter import Held, Meter
from hearth.billing.store import MeterStore, Usage
from hearth.errors import ServiceError
from hearth.model import InvocationRecord
from hearth.telemetry.records import InstanceOutput

HOUR = (int(time.time()) // 3600 - 24) * 3600  # an hour's start yesterday (older rows expire), in epoch seconds


def record(function: str = "f", version: str = "$LATEST", start: float = HOUR + 10.0, duration_ms: float = 2.5,
           billed_ms: int = 3, memory_mb: int = 128, init_ms: float | None = None,
           status: str = "success") -> InvocationRecord:
    return InvocationRecord("id", function, version, "invoke", start, duration_ms, billed_ms, memory_mb, 40,
                            init_ms, status, None if status == "success" else "Error")


class Clocks:
    """A wall clock and a monotonic millisecond clock the test moves."""

    def __init__(self) -> None:
        self.wall = HOUR + 100.0
        self.ms = 0

    def advance(self, ms: int) -> None:
        self.ms += ms
        self.wall += ms / 1000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MeterStore]:
    opened = MeterStore(tmp_path / "meter.db")
    yield opened
    opened.close()


def totals(rows: list[Usage]) -> dict[tuple[str, str, int], Usage]:
    return {(row.function, row.version, row.hour): row for row in rows}


def test_records_are_tallied_per_function_version_and_hour(store: MeterStore) -> None:
    async def scenario() -> list[Usage]:
        meter = Meter(store, flush_s=60)
        meter.observe(record(duration_ms=2.5, billed_ms=3, init_ms=40.25))
        meter.observe(record(duration_ms=7.0, billed_ms=7, status="error", start=HOUR + 20.0))
        meter.observe(record(status="throttled", billed_ms=0))  # refused: neither billed nor counted
        meter.observe(record(version="2", memory_mb=1024, billed_ms=100))
        meter.observe(record(start=HOUR + 3600.5))  # the next hour
        meter.observe(InstanceOutput("f", "$LATEST", 1, ("a line",)))
        return await meter.usage(HOUR, HOUR + 7200)

    rows = totals(asyncio.run(scenario()))
    first = rows[("f", "$LATEST", HOUR)]
    assert (first.requests, first.errors, first.cold_starts) == (2, 1, 1)
    assert (first.billed_ms, first.billed_mb_ms) == (10, 10 * 128)
    assert (first.duration_us, first.init_us, first.last_start) == (9500, 40250, HOUR + 20.0)
    assert rows[("f", "2", HOUR)].billed_mb_ms == 100 * 1024
    assert rows[("f", "$LATEST", HOUR + 3600)].requests == 1 and len(rows) == 3


def test_provisioned_instances_are_metered_per_millisecond_held(store: MeterStore) -> None:
    clocks = Clocks()
    holding = [Held("f", "1", 256, 2)]

    async def scenario() -> list[Usage]:
        meter = Meter(store, flush_s=60, held=lambda: holding, clock=lambda: clocks.wall,
                      monotonic_ms=lambda: clocks.ms)
        meter.sample()  # the first look only starts the count
        clocks.advance(10_000)
        meter.sample()  # 2 instances × 10 s
        holding[0] = Held("f", "1", 256, 1)
        clocks.advance(2_500)
        meter.sample()  # 1 instance × 2.5 s
        holding.clear()
        clocks.advance(60_000)
        meter.sample()  # released: nothing more
        return await meter.usage(HOUR, HOUR + 3600)

    [row] = asyncio.run(scenario())
    assert (row.function, row.version, row.requests, row.last_start) == ("f", "1", 0, None)
    assert row.provisioned_ms == 2 * 10_000 + 2_500
    assert row.provisioned_mb_ms == 22_500 * 256  # 5.625 GB-s


def test_flushes_add_up_in_the_file_and_survive_a_reopen(tmp_path: Path) -> None:
    async def scenario() -> None:
        meter = Meter(MeterStore(tmp_path / "meter.db"), flush_s=60)
        meter.observe(record(billed_ms=3))
        await meter.flush()
        meter.observe(record(billed_ms=4, start=HOUR + 30.0))
        await meter.close()  # a clean stop writes what is pending

    asyncio.run(scenario())
    reopened = MeterStore(tmp_path / "meter.db")
    try:
        [row] = reopened.usage(HOUR, HOUR + 3600)
        assert (row.requests, row.billed_ms, row.last_start) == (2, 7, HOUR + 30.0)
        assert reopened.last_invoked() == {"f": HOUR + 30.0}
    finally:
        reopened.close()


def test_a_failed_flush_keeps_its_tallies_for_the_next_one(store: MeterStore) -> None:
    class Failing(MeterStore):
        broken = True

        def add(self, batch: object, *, expire_before: float | None = None) -> None:
            if self.broken:
                raise ServiceError("meter: disk full")
            super().add(batch, expire_before=expire_before)  # type: ignore[arg-type]

    failing = Failing(store.path)

    async def scenario() -> list[Usage]:
        meter = Meter(failing, flush_s=60)
        meter.observe(record(billed_ms=3))
        with pytest.raises(ServiceError):
            await meter.flush()
        meter.observe(record(billed_ms=5))
        assert meter.failed_flushes == 1
        failing.broken = False
        await meter.flush()
        return failing.usage(HOUR, HOUR + 3600)

    [row] = asyncio.run(scenario())
    failing.close()
    assert (row.requests, row.billed_ms) == (2, 8)


def test_windows_cover_whole_hours(store: MeterStore) -> None:
    store.add([Usage("f", "$LATEST", HOUR - 3600, requests=1), Usage("f", "$LATEST", HOUR, requests=2),
               Usage("g", "$LATEST", HOUR, requests=4), Usage("f", "$LATEST", HOUR + 3600, requests=8)])
    assert [row.requests for row in store.usage(HOUR + 1800, HOUR + 3600)] == [2, 4]  # from the hour's start
    assert [row.requests for row in store.usage(HOUR, HOUR + 3601, "f")] == [2, 8]
    store.add([Usage("f", "$LATEST", HOUR, requests=1)], expire_before=HOUR)
    assert [row.requests for row in store.usage(0, HOUR * 2)] == [3, 8, 4]  # the older hour expired (f, then g)


def test_the_sink_costs_about_a_microsecond() -> None:
    """Not a benchmark: a guard against an accidental slow path (the figure is noted in docs/architecture.md)."""
    import timeit

    meter = Meter.__new__(Meter)
    meter._tallies = {}
    item = record(init_ms=None)
    best = min(timeit.repeat(lambda: meter.observe(item), number=20_000, repeat=5)) / 20_000
    assert best < 5e-6, f"{best * 1e6:.2f} µs per record"
