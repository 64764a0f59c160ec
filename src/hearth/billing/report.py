"""Cost reports: metered usage (``billing/store.py``) grouped by function, version or day, priced exactly.

Every stored row is priced with its function's table (the platform's prices with the function's overrides), then
rows are added up per group: costs are ``Decimal``s made from integer usage, so a group's cost is exactly the sum
of its rows' and the total exactly the sum of the groups'. Only the share of the total is rounded (to six decimal
places of the fraction: 0.0001 %), since a third is not a finite decimal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from hearth.billing.prices import EXACT, PriceTable, decimal_text, gb_seconds, usage_cost
from hearth.billing.store import Usage

GROUPINGS = ("function", "version", "day")
SHARE_PLACES = Decimal("0.000001")
_MICRO = Decimal(1_000_000)


@dataclass(frozen=True)
class CostLine:
    """One group's usage and cost: a function, a function version or a UTC day (the other keys are None)."""

    function: str | None
    version: str | None
    day: str | None  # YYYY-MM-DD, UTC
    requests: int
    errors: int
    cold_starts: int
    billed_mb_ms: int
    duration_us: int
    init_us: int
    provisioned_mb_ms: int
    cost: Decimal
    share: Decimal  # of the report's total cost, rounded to SHARE_PLACES; 0 when the total is 0

    @property
    def gb_seconds(self) -> Decimal:
        return gb_seconds(self.billed_mb_ms)

    @property
    def provisioned_gb_seconds(self) -> Decimal:
        return gb_seconds(self.provisioned_mb_ms)

    def as_json(self) -> dict[str, Any]:
        """Numbers that must stay exact travel as decimal strings."""
        with localcontext(EXACT):
            init_s, duration_s = Decimal(self.init_us) / _MICRO, Decimal(self.duration_us) / _MICRO
        keys = {name: value for name, value in (("function", self.function), ("version", self.version),
                                                ("day", self.day)) if value is not None}
        return {**keys, "requests": self.requests, "errors": self.errors, "cold_starts": self.cold_starts,
                "gb_seconds": decimal_text(self.gb_seconds),
                "provisioned_gb_seconds": decimal_text(self.provisioned_gb_seconds),
                "init_seconds": decimal_text(init_s), "duration_seconds": decimal_text(duration_s),
                "cost": decimal_text(self.cost), "share": decimal_text(self.share)}


@dataclass(frozen=True)
class CostReport:
    """The lines (costliest first; days in order) and their total."""

    by: str
    lines: tuple[CostLine, ...]
    total: CostLine


class _Sum:
    __slots__ = ("requests", "errors", "cold_starts", "billed_mb_ms", "duration_us", "init_us", "provisioned_mb_ms",
                 "cost")

    def __init__(self) -> None:
        self.requests = self.errors = self.cold_starts = 0
        self.billed_mb_ms = self.duration_us = self.init_us = self.provisioned_mb_ms = 0
        self.cost = Decimal(0)

    def add(self, usage: Usage, cost: Decimal) -> None:
        self.requests += usage.requests
        self.errors += usage.errors
        self.cold_starts += usage.cold_starts
        self.billed_mb_ms += usage.billed_mb_ms
        self.duration_us += usage.duration_us
        self.init_us += usage.init_us
        self.provisioned_mb_ms += usage.provisioned_mb_ms
        with localcontext(EXACT):
            self.cost += cost

    def line(self, key: tuple[str | None, str | None, str | None], total: Decimal) -> CostLine:
        with localcontext(EXACT):
            share = (self.cost / total).quantize(SHARE_PLACES, ROUND_HALF_EVEN) if total else Decimal(0)
        return CostLine(*key, self.requests, self.errors, self.cold_starts, self.billed_mb_ms, self.duration_us,
                        self.init_us, self.provisioned_mb_ms, self.cost, share)


def cost_report(usage: Iterable[Usage], by: str, prices: Callable[[str], PriceTable]) -> CostReport:
    """Group ``usage`` by ``function``, ``version`` or ``day``; ``prices(function)`` is that function's table."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    groups: dict[tuple[str | None, str | None, str | None], _Sum] = {}
    total = _Sum()
    tables: dict[str, PriceTable] = {}
    for row in usage:
        table = tables.get(row.function)
        if table is None:
            table = tables[row.function] = prices(row.function)
        cost = usage_cost(table, row.requests, row.billed_mb_ms, row.provisioned_mb_ms)
        key: tuple[str | None, str | None, str | None]
        if by == "function":
            key = (row.function, None, None)
        elif by == "version":
            key = (row.function, row.version, None)
        else:
            key = (None, None, datetime.fromtimestamp(row.hour, UTC).strftime("%Y-%m-%d"))
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Sum()
        group.add(row, cost)
        total.add(row, cost)
    lines = [group.line(key, total.cost) for key, group in groups.items()]
    if by == "day":
        lines.sort(key=lambda line: line.day or "")
    else:
        lines.sort(key=lambda line: (-line.cost, line.function or "", _version_order(line.version)))
    return CostReport(by, tuple(lines), total.line((None, None, None), total.cost))


def _version_order(version: str | None) -> tuple[int, str]:
    """$LATEST first, then published versions by number."""
    if version is None or not version.isdigit():
        return (-1, version or "")
    return (int(version), "")
