"""Invocation deadlines, enforced by one periodic timer rather than a timer each (every runtime shares it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

SWEEP_INTERVAL_S = 0.02  # a deadline is enforced at most this late (plus the event loop's own lag)


class Expirable(Protocol):
    def expire(self) -> None:
        """The deadline passed with the work still running: stop it."""


class DeadlineSweep:
    """The deadlines of the invocations in flight, enforced by one periodic timer rather than a timer each.

    ``loop.call_later`` and its ``cancel`` for every invocation were a measurable share of the gateway's time per
    request; a dict insert and delete are not. The timer runs only while something is in flight, so an idle
    platform is never woken; an expired instance is stopped at most ``interval_s`` after its deadline.
    """

    def __init__(self, interval_s: float = SWEEP_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._due: dict[Expirable, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._due)

    def add(self, instance: Expirable, timeout_s: float) -> None:
        """Expire ``instance`` once ``timeout_s`` have passed, unless it is discarded first."""
        self._due[instance] = self.clock() + timeout_s
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._sweep)

    def discard(self, instance: Expirable) -> None:
        self._due.pop(instance, None)

    def _sweep(self) -> None:
        now = self.clock()
        expired = [instance for instance, due in self._due.items() if due <= now]
        try:
            for instance in expired:
                del self._due[instance]
                instance.expire()
        finally:
            self._timer = (asyncio.get_running_loop().call_later(self.interval_s, self._sweep)
                           if self._due else None)
