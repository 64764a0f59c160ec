"""The scheduler against a real event store and a fake clock: a tick fires once (across restarts and across two
schedulers on one file), missed ticks follow the schedule's policy, pauses hold, and events have EventBridge's
shape with an id per tick."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from hearth.model import AuditEntry, ScheduleSpec
from hearth.store.events import ASYNC_QUEUE, Message
from hearth.store.sqlite_events import SqliteEvents
from hearth.triggers.scheduler import LATE_S, Scheduler

START = datetime(2026, 11, 21, 11, 58, 30, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class FakeCatalog:
    def __init__(self, *specs: ScheduleSpec) -> None:
        self.schedules = {spec.name: spec for spec in specs}
        self.listeners: list[Callable[[str | None], None]] = []
        self.disabled: dict[str, AuditEntry] = {}


def every_minute(**changes: Any) -> ScheduleSpec:
    return ScheduleSpec(**{"name": "app.tick", "expression": "rate(1 minute)", "function": "tick", **changes})


def run(tmp_path: Path, body: Callable[[SqliteEvents, Clock], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = Clock()
        store = SqliteEvents(tmp_path / "events.db", clock=clock)
        try:
            await body(store, clock)
        finally:
            await store.close()

    asyncio.run(main())


async def drain(store: SqliteEvents) -> list[Message]:
    claimed = await store.claim(ASYNC_QUEUE, 1000, 60)
    for message in claimed:
        await store.delete(message)
    return claimed


def test_a_new_schedule_fires_from_its_next_tick_with_a_scheduled_event(tmp_path: Path) -> None:
    async def body(store: SqliteEvents, clock: Clock) -> None:
        scheduler = Scheduler(FakeCatalog(every_minute()), store, clock=clock)  # type: ignore[arg-type]
        wait = await scheduler.tick()
        assert await drain(store) == []  # nothing in the past fires
        assert wait == pytest.approx(30.0)  # 11:59:00 is next
        clock.now += 30
        await scheduler.tick()
        [message] = await drain(store)
        event = orjson.loads(message.body)
        assert orjson.loads(message.meta) == {"function": "tick", "qualifier": None, "trigger": "schedule"}
        assert event["time"] == "2026-11-21T11:59:00Z" and event["detail-type"] == "Scheduled Event"
        assert event["source"] == "aws.events" and event["detail"] == {} and event["id"] == message.id
        assert event["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/app.tick"]
        await scheduler.tick()
        assert await drain(store) == []  # the same tick never fires twice

    run(tmp_path, body)


def test_a_restarted_scheduler_and_a_second_one_do_not_fire_a_tick_again(tmp_path: Path) -> None:
    async def body(store: SqliteEvents, clock: Clock) -> None:
        catalog = FakeCatalog(every_minute())
        first = Scheduler(catalog, store, clock=clock)  # type: ignore[arg-type]
        await first.tick()
        clock.now += 30
        other = SqliteEvents(tmp_path / "events.db", clock=clock)  # a second process on the same file
        try:
            second = Scheduler(catalog, other, clock=clock)  # type: ignore[arg-type]
            results = await asyncio.gather(first.tick(), second.tick(), first.tick(), second.tick())
            assert len(results) == 4
            assert len(await drain(store)) == 1
            restarted = Scheduler(catalog, other, clock=clock)  # type: ignore[arg-type]
            await restarted.tick()
            assert await drain(store) == []
        finally:
            await other.close()

    run(tmp_path, body)


@pytest.mark.parametrize(("missed", "fired"), [("skip", []), ("once", ["2026-11-21T14:00:00Z"])])
def test_ticks_missed_while_down_follow_the_policy(tmp_path: Path, missed: str, fired: list[str]) -> None:
    async def body(store: SqliteEvents, clock: Clock) -> None:
        spec = every_minute(expression="rate(5 minutes)", missed=missed)
        scheduler = Scheduler(FakeCatalog(spec), store, clock=clock)  # type: ignore[arg-type]
        await scheduler.tick()
        clock.now = datetime(2026, 11, 21, 14, 0, 0, tzinfo=UTC).timestamp() + LATE_S + 5  # down for two hours
        await scheduler.tick()
        assert [orjson.loads(m.body)["time"] for m in await drain(store)] == fired
        clock.now = datetime(2026, 11, 21, 14, 5, 1, tzinfo=UTC).timestamp()  # and then on time again
        await scheduler.tick()
        assert [orjson.loads(m.body)["time"] for m in await drain(store)] == ["2026-11-21T14:05:00Z"]

    run(tmp_path, body)


def test_a_disabled_functions_schedule_is_held_apart_from_the_users_pause(tmp_path: Path) -> None:
    async def body(store: SqliteEvents, clock: Clock) -> None:
        catalog = FakeCatalog(every_minute(), every_minute(name="app.other", function="other"))
        scheduler = Scheduler(catalog, store, clock=clock)  # type: ignore[arg-type]
        await scheduler.tick()
        catalog.disabled["tick"] = AuditEntry(clock.now, "tick", "disabled", "idle")
        clock.now += 30
        await scheduler.tick()
        assert [orjson.loads(m.meta)["function"] for m in await drain(store)] == ["other"]  # tick is held
        plans = {item.spec.name: item for item in await scheduler.plan()}
        assert plans["app.tick"].held and plans["app.tick"].next_tick is None
        assert not plans["app.tick"].state.paused and not plans["app.other"].held
        clock.now += 600
        await scheduler.tick()
        assert [orjson.loads(m.meta)["function"] for m in await drain(store)] == ["other"]
        del catalog.disabled["tick"]  # enabled: it fires from its next tick; ticks passed while held were missed
        await scheduler.tick()
        assert [orjson.loads(m.meta)["function"] for m in await drain(store)] == []
        clock.now += 60
        await scheduler.tick()
        assert sorted(orjson.loads(m.meta)["function"] for m in await drain(store)) == ["other", "tick"]
        # Paused by the user while disabled: enabling the function does not resume it.
        await scheduler.pause("app.tick", True)
        catalog.disabled["tick"] = AuditEntry(clock.now, "tick", "disabled", "idle")
        clock.now += 60
        await scheduler.tick()
        del catalog.disabled["tick"]
        clock.now += 60
        await scheduler.tick()
        assert [orjson.loads(m.meta)["function"] for m in await drain(store)] == ["other", "other"]
        assert {item.spec.name: item.state.paused for item in await scheduler.plan()}["app.tick"]

    run(tmp_path, body)


def test_a_late_tick_within_the_grace_fires_and_a_paused_schedule_does_not(tmp_path: Path) -> None:
    async def body(store: SqliteEvents, clock: Clock) -> None:
        catalog = FakeCatalog(every_minute())
        scheduler = Scheduler(catalog, store, clock=clock)  # type: ignore[arg-type]
        await scheduler.tick()
        clock.now += 30 + LATE_S - 1  # 11:59:00 is due, 59 s late
        await scheduler.tick()
        assert len(await drain(store)) == 1
        await scheduler.pause("app.tick", True)
        clock.now += 600
        await scheduler.tick()
        assert await drain(store) == []
        [planned] = await scheduler.plan()
        assert planned.state.paused and planned.next_tick is None
        await scheduler.pause("app.tick", False)
        await scheduler.tick()
        assert await drain(store) == []  # ticks passed while paused do not fire on resume
        clock.now += 60
        await scheduler.tick()
        assert len(await drain(store)) == 1

    run(tmp_path, body)


def test_input_replaces_the_event_and_a_vercel_cron_names_its_path(tmp_path: Path) -> None:
    async def body(store: SqliteEvents, clock: Clock) -> None:
        catalog = FakeCatalog(every_minute(input='{"task": "vacuum"}'),
                              ScheduleSpec("web.cron.0", "* * * * *", path="/api/cron?x=1", site="web"))
        scheduler = Scheduler(catalog, store, clock=clock)  # type: ignore[arg-type]
        await scheduler.tick()
        clock.now += 30
        await scheduler.tick()
        messages = {m.id: m for m in await drain(store)}
        assert sorted(orjson.loads(m.body) == {"task": "vacuum"} for m in messages.values()) == [False, True]
        cron = next(m for m in messages.values() if orjson.loads(m.meta).get("path"))
        assert orjson.loads(cron.meta) == {"function": "", "qualifier": None, "path": "/api/cron?x=1", "site": "web"}

    run(tmp_path, body)


def test_schedules_no_longer_declared_are_forgotten(tmp_path: Path) -> None:
    async def body(store: SqliteEvents, clock: Clock) -> None:
        catalog = FakeCatalog(every_minute(), every_minute(name="app.other"))
        scheduler = Scheduler(catalog, store, clock=clock)  # type: ignore[arg-type]
        await scheduler.tick()
        del catalog.schedules["app.other"]
        await scheduler.tick()
        assert set(await store.schedule_states()) == {"app.tick"}

    run(tmp_path, body)
