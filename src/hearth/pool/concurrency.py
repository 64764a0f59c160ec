"""Platform-wide accounting of invocations in flight: one limit, shared by all functions, minus reservations.

As in Lambda, concurrency counts invocations running (including the cold start that serves one), not
instances: an idle instance holds no concurrency. A function with reserved concurrency ``R`` may run at most
``R`` invocations at once and those ``R`` are set aside for it; every other function shares what is left of the
platform limit. ``R = 0`` disables a function.
"""

from __future__ import annotations

from collections.abc import Mapping

from hearth import errors


def min_unreserved(limit: int) -> int:
    """How much of the limit reservations must leave for unreserved functions (Lambda keeps 100 of 1000)."""
    return min(100, max(1, limit // 10))  # at least one, or a single reservation could starve every other function


def check_reservation(limit: int, reserved: Mapping[str, int], function: str, count: int) -> None:
    """Raise ``InvalidParameterValue`` if reserving ``count`` for ``function`` would starve unreserved functions."""
    if count < 0:
        raise errors.InvalidParameterValue(f"ReservedConcurrentExecutions must be 0 or more, got {count}")
    total = count + sum(value for name, value in reserved.items() if name != function)
    floor = min_unreserved(limit)
    if limit - total < floor:
        raise errors.InvalidParameterValue(
            f"Specified ReservedConcurrentExecutions for function {function} decreases the platform's "
            f"UnreservedConcurrentExecution below its minimum value of [{floor}]: the limit is {limit} and "
            f"{total} would be reserved; reserve less, or start Hearth with a higher --concurrency-limit")


class Concurrency:
    """Counts invocations in flight per function against reserved and unreserved capacity."""

    __slots__ = ("limit", "reserved", "in_flight", "_reserved_total", "_unreserved_in_flight")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserved: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self._reserved_total = 0
        self._unreserved_in_flight = 0

    @property
    def unreserved_capacity(self) -> int:
        return self.limit - self._reserved_total

    def limit_of(self, function: str) -> int:
        """The most invocations ``function`` may ever run at once."""
        reserved = self.reserved.get(function)
        return reserved if reserved is not None else self.unreserved_capacity

    def reserve(self, function: str, count: int | None) -> None:
        """Set (or with ``None`` clear) ``function``'s reservation; validated by the caller beforehand."""
        running = self.in_flight.get(function, 0)
        if function not in self.reserved:
            self._unreserved_in_flight -= running
        if count is None:
            self.reserved.pop(function, None)
            self._unreserved_in_flight += running
        else:
            self.reserved[function] = count
        self._reserved_total = sum(self.reserved.values())

    def try_acquire(self, function: str) -> bool:
        """Take one unit for a new invocation of ``function``; False means throttle it."""
        running = self.in_flight.get(function, 0)
        reserved = self.reserved.get(function)
        if reserved is not None:
            if running >= reserved:
                return False
        elif self._unreserved_in_flight >= self.limit - self._reserved_total:
            return False
        else:
            self._unreserved_in_flight += 1
        self.in_flight[function] = running + 1
        return True

    def release(self, function: str) -> None:
        """Give back the unit an invocation of ``function`` took."""
        self.in_flight[function] -= 1
        if function not in self.reserved:
            self._unreserved_in_flight -= 1
