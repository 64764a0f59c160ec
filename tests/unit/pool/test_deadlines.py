"""``DeadlineSweep``: one periodic timer enforces every invocation's deadline, and runs only while one is due."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hearth.pool.deadlines import DeadlineSweep

INTERVAL_S = 0.01


class Instance:
    """Records when it was expired."""

    def __init__(self) -> None:
        self.expired_at: float | None = None

    def expire(self) -> None:
        self.expired_at = time.monotonic()


def test_expires_after_the_deadline_within_one_interval() -> None:
    async def scenario() -> tuple[float, Instance, Instance, DeadlineSweep]:
        sweep = DeadlineSweep(INTERVAL_S)
        late, finished = Instance(), Instance()
        started = time.monotonic()
        sweep.add(late, 0.05)  # type: ignore[arg-type]
        sweep.add(finished, 0.05)  # type: ignore[arg-type]
        sweep.discard(finished)  # its invocation completed in time
        while late.expired_at is None:
            await asyncio.sleep(INTERVAL_S / 2)
        return started, late, finished, sweep

    started, late, finished, sweep = asyncio.run(scenario())
    assert late.expired_at is not None
    assert 0.05 <= late.expired_at - started <= 0.05 + INTERVAL_S + 0.04  # + generous scheduling slack
    assert finished.expired_at is None
    assert len(sweep) == 0 and sweep._timer is None  # nothing due: the timer is not re-armed


def test_timer_runs_only_while_something_is_due() -> None:
    async def scenario() -> list[Any]:
        sweep = DeadlineSweep(INTERVAL_S)
        seen = [sweep._timer]
        instance = Instance()
        sweep.add(instance, 10.0)  # type: ignore[arg-type]
        seen.append(sweep._timer is not None)
        await asyncio.sleep(INTERVAL_S * 3)
        seen.append(sweep._timer is not None and instance.expired_at is None)
        sweep.discard(instance)
        await asyncio.sleep(INTERVAL_S * 3)
        seen.append(sweep._timer)
        return seen

    assert asyncio.run(scenario()) == [None, True, True, None]
