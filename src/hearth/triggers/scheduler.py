"""The scheduler: fires the catalog's schedules (``ScheduleSpec``) on their ticks, durably and once per tick.

Firing a tick is one event-store transaction (``EventStore.advance``): the schedule's last tick moves to this tick
and its event is stored in ``ASYNC_QUEUE``, or neither happens because another process (or this one, before a
restart) already moved it there. The asynchronous dispatcher then runs the event with the function's retries
(``async_invoke.py``), as EventBridge invokes Lambda asynchronously. The event's id is the same for a tick wherever
it is computed (a UUID made from the schedule's name and the tick), so a handler can de-duplicate.

What fires, per schedule, each time the scheduler wakes (at the next tick of any schedule, when the catalog changes,
at most ``POLL_S`` apart):

- a schedule seen for the first time starts now: its first tick is the next one, nothing in the past fires;
- the latest tick since the last one, when it is at most ``LATE_S`` old: fired (several such ticks, which only a
  pause between wakes could bring, fire once, for the latest);
- ticks older than that were missed while Hearth was not running: ``missed = "skip"`` (the default, as EventBridge
  does not catch up) records the latest of them without firing; ``"once"`` fires it, once;
  a schedule that ticks at least every ``LATE_S`` always has a tick that recent, so after a pause it simply fires
  its latest tick, as it would have anyway;
- a paused schedule (``hearth pause-schedule``; kept in the event store, so a redeploy keeps it), one with
  ``enabled = false``, or one whose function is disabled (``Catalog.disabled``: held, apart from the user's pause,
  so ``hearth enable`` resumes only what the user had not paused) never fires, and its ticks pass as missed ones do
  when it resumes.

The event is EventBridge's Scheduled Event (``version``, ``id``, ``detail-type``, ``source``, ``account``,
``time`` (the tick), ``region``, ``resources`` (the rule's ARN), ``detail``), or the schedule's ``input``. A Vercel
cron instead GETs its path on the gateway, with its project's host and ``Authorization: Bearer $CRON_SECRET`` when
a function of the project has ``CRON_SECRET`` in its environment, as Vercel does.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.model import ACCOUNT_ID, REGION, ScheduleSpec
from hearth.store.events import ASYNC_QUEUE, EventStore, NewMessage, ScheduleState
from hearth.triggers.schedule import Schedule, parse

if TYPE_CHECKING:
    from hearth.catalog import Catalog

log = logging.getLogger("hearth.scheduler")

POLL_S = 30.0  # the longest sleep: a tick is never later than its time plus what the loop needs
LATE_S = 60.0  # a tick this late (the process was busy or just started) still fires; older ones were missed
_LOOKBACK = (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=366))
_LOOKBACK_LIMIT = 100_000
_TICK_IDS = uuid.UUID("5b7c1f4e-31a5-4c8e-9d0e-6a2f3f1e8c11")  # namespace of the ids of ticks' events


@dataclass(frozen=True, slots=True)
class Planned:
    """One schedule as ``hearth schedules`` shows it."""

    spec: ScheduleSpec
    state: ScheduleState
    next_tick: datetime | None  # None: paused, disabled, held, or never again
    held: bool = False  # its function is disabled


class Scheduler:
    """Fires the catalog's schedules; see the module docstring."""

    def __init__(self, catalog: Catalog, store: EventStore, *, clock: Callable[[], float] = time.time) -> None:
        self.catalog = catalog
        self.store = store
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._parsed: dict[tuple[str, str], Schedule] = {}
        catalog.listeners.append(self._changed)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _changed(self, subject: str | None) -> None:
        self._wake.set()

    def parsed(self, spec: ScheduleSpec) -> Schedule:
        key = (spec.expression, spec.timezone)
        schedule = self._parsed.get(key)
        if schedule is None:
            schedule = self._parsed[key] = parse(spec.expression, spec.timezone)
        return schedule

    async def plan(self) -> list[Planned]:
        """Every schedule with its state and next tick (for ``GET /hearth/schedules``)."""
        states = await self.store.schedule_states()
        now = datetime.fromtimestamp(self.clock(), UTC)
        planned = []
        for spec in self.catalog.schedules.values():
            state = states.get(spec.name, ScheduleState(None))
            upcoming = None
            held = self.held(spec)
            if spec.enabled and not state.paused and not held:
                after = now if state.last_tick is None else max(now, _moment(state.last_tick))
                upcoming = self.parsed(spec).next_after(after)
            planned.append(Planned(spec, state, upcoming, held))
        return planned

    def held(self, spec: ScheduleSpec) -> bool:
        """Whether the schedule's function is disabled (a Vercel cron, which GETs a path, never is)."""
        return bool(spec.function) and spec.function in self.catalog.disabled

    async def pause(self, name: str, paused: bool) -> None:
        if name not in self.catalog.schedules:
            raise errors.ResourceNotFound(f"Schedule not found: {name!r}; `hearth schedules` lists them")
        await self.store.set_paused(name, paused)
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------------------------

    async def _run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self.tick()
            except errors.ServiceError as error:
                log.error("the scheduler cannot reach the event store (trying again): %s", error.message)
                wait = 1.0
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def tick(self) -> float:
        """Fire what is due; returns the seconds until the next tick of any schedule (at most ``POLL_S``)."""
        specs = dict(self.catalog.schedules)
        states = await self.store.schedule_states()
        if any(name not in specs for name in states):
            await self.store.forget_schedules(list(specs))
        now = self.clock()
        wait = POLL_S
        for spec in specs.values():
            state = states.get(spec.name, ScheduleState(None))
            try:
                schedule = self.parsed(spec)
            except ValueError as exc:  # the manifest checked it; a hand-edited store might not have
                log.error("schedule %s cannot fire: %s", spec.name, exc)
                continue
            active = spec.enabled and not state.paused and not self.held(spec)
            if state.last_tick is None:
                await self.store.advance(spec.name, now)  # starts now: only later ticks fire
                last = now
            else:
                last = state.last_tick
                if active:
                    last = await self._fire_due(spec, schedule, last, now) or last
                else:
                    latest = _latest(schedule, last, now)
                    if latest is not None:
                        await self.store.advance(spec.name, latest)  # passes as missed
                        last = latest
            if active:
                upcoming = schedule.next_after(_moment(max(last, now)))
                if upcoming is not None:
                    wait = min(wait, max(0.0, upcoming.timestamp() - self.clock()))
        return wait

    async def _fire_due(self, spec: ScheduleSpec, schedule: Schedule, last: float, now: float) -> float | None:
        """Fire (or pass over) the ticks due since ``last``; the tick now recorded, or None when none was due."""
        latest = _latest(schedule, last, now)
        if latest is None:
            return None
        on_time = now - latest <= LATE_S
        if not on_time and spec.missed == "skip":
            await self.store.advance(spec.name, latest)
            log.info("schedule %s: missed ticks up to %s skipped", spec.name, _iso(latest))
            return latest
        fired = await self.store.advance(spec.name, latest, [self._message(spec, latest)])
        if fired:
            log.info("schedule %s fired for %s%s", spec.name, _iso(latest), "" if on_time else " (missed, once)")
        return latest

    def _message(self, spec: ScheduleSpec, tick: float) -> NewMessage:
        event_id = str(uuid.uuid5(_TICK_IDS, f"{spec.name}@{tick:.0f}"))
        meta: dict[str, Any]
        if spec.path:
            meta = {"function": "", "qualifier": None, "path": spec.path, "site": spec.site}
            body = b"{}"
        else:
            meta = {"function": spec.function, "qualifier": spec.qualifier, "trigger": "schedule"}
            body = spec.input.encode() if spec.input is not None else orjson.dumps(scheduled_event(spec, tick,
                                                                                                   event_id))
        return NewMessage(event_id, ASYNC_QUEUE, body, orjson.dumps(meta))


def scheduled_event(spec: ScheduleSpec, tick: float, event_id: str) -> dict[str, Any]:
    """EventBridge's Scheduled Event for one tick."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": _iso(tick),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{spec.name}"],
        "detail": {},
    }


def _latest(schedule: Schedule, last: float, now: float) -> float | None:
    """The latest tick in (``last``, ``now``], or None; searched in growing windows back from ``now``."""
    after, until = _moment(last), _moment(now)
    first = schedule.next_after(after)
    if first is None or first > until:
        return None
    for span in (*_LOOKBACK, until - after):
        start = max(after, until - span)
        ticks = schedule.ticks_between(start, until, _LOOKBACK_LIMIT)
        if ticks:
            return ticks[-1].timestamp()
    return first.timestamp()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _iso(epoch: float) -> str:
    return _moment(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")
