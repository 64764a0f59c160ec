"""Invocation statistics over a window of the log store, for ``hearth stats`` (``GET /hearth/stats``).

Per function: how many invocations ended in the window, their rate, the share that failed (any status but
``success``), duration percentiles (nearest rank, over the invocations that ran: throttles have no duration), the
share of cold starts, and per equal slice of the window (for charts): the count (``series``), the errors, the cold
starts, the p50 and p99 durations (None for a slice where nothing ran) and the mean concurrency (the time spent in
invocations during the slice, divided by its length).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from hearth.telemetry.logformat import STORED

SLOTS = 24


@dataclass
class FunctionStats:
    """One function's figures over the window."""

    function: str
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    cold: int = 0
    durations: list[float] = field(default_factory=list, repr=False)
    series: list[int] = field(default_factory=lambda: [0] * SLOTS)
    error_series: list[int] = field(default_factory=lambda: [0] * SLOTS)
    cold_series: list[int] = field(default_factory=lambda: [0] * SLOTS)
    slot_durations: list[list[float]] = field(default_factory=lambda: [[] for _ in range(SLOTS)], repr=False)
    busy_s: list[float] = field(default_factory=lambda: [0.0] * SLOTS, repr=False)

    def summary(self, seconds: float) -> dict[str, Any]:
        ran = sorted(self.durations)
        doc = {key: value for key, value in asdict(self).items()
               if key not in ("durations", "slot_durations", "busy_s")}
        slot_s = seconds / len(self.series) if self.series and seconds > 0 else 0.0
        slices = [sorted(durations) for durations in self.slot_durations]
        doc.update({
            "p50_series": [percentile(durations, 50) for durations in slices],
            "p99_series": [percentile(durations, 99) for durations in slices],
            "concurrency_series": [busy / slot_s if slot_s else 0.0 for busy in self.busy_s],
            "rate_per_s": self.invocations / seconds if seconds > 0 else 0.0,
            "error_pct": 100.0 * self.errors / self.invocations if self.invocations else 0.0,
            "cold_pct": 100.0 * self.cold / len(ran) if ran else 0.0,
            "p50_ms": percentile(ran, 50), "p95_ms": percentile(ran, 95), "p99_ms": percentile(ran, 99),
        })
        return doc


def summarize(stored: Iterable[dict[str, Any]], since: float, until: float, function: str | None = None,
              slots: int = SLOTS) -> list[dict[str, Any]]:
    """The figures of every function (or just ``function``) whose invocations ended in ``[since, until]``, most
    invoked first; ``stored`` are the log store's objects as ``LogStore.scan`` gives them."""
    span = max(until - since, 1e-9)
    found: dict[str, FunctionStats] = {}
    for doc in stored:
        if doc.get("type") != STORED or (function is not None and doc.get("function") != function):
            continue
        end = doc["start"] + doc["duration_ms"] / 1000
        if not since <= end <= until:
            continue
        stats = found.get(doc["function"])
        if stats is None:
            stats = found[doc["function"]] = FunctionStats(
                doc["function"], series=[0] * slots, error_series=[0] * slots, cold_series=[0] * slots,
                slot_durations=[[] for _ in range(slots)], busy_s=[0.0] * slots)
        stats.invocations += 1
        slot = min(int((end - since) / span * slots), slots - 1)
        stats.series[slot] += 1
        status = doc["status"]
        if status != "success":
            stats.errors += 1
            stats.error_series[slot] += 1
        if status == "throttled":
            stats.throttles += 1
            continue
        stats.durations.append(doc["duration_ms"])
        stats.slot_durations[slot].append(doc["duration_ms"])
        if doc.get("init_ms") is not None:
            stats.cold += 1
            stats.cold_series[slot] += 1
        _add_busy(stats.busy_s, max(doc["start"], since), end, since, span / slots)
    ordered = sorted(found.values(), key=lambda item: (-item.invocations, item.function))
    return [item.summary(until - since) for item in ordered]


def _add_busy(busy_s: list[float], start: float, end: float, since: float, slot_s: float) -> None:
    """Add the time ``[start, end]`` spends in each slot to it (an invocation may span several)."""
    first = min(int((start - since) / slot_s), len(busy_s) - 1)
    for index in range(first, len(busy_s)):
        low, high = since + index * slot_s, since + (index + 1) * slot_s
        if low >= end:
            break
        busy_s[index] += max(0.0, min(end, high) - max(start, low))


def percentile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of sorted values (a value that was observed), or None for none."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def sparkline(series: list[int]) -> str:
    """The series as block characters, scaled to its maximum (a space for zero)."""
    top = max(series, default=0)
    if top == 0:
        return " " * len(series)
    blocks = "▁▂▃▄▅▆▇█"
    return "".join(" " if count == 0 else blocks[min(len(blocks) - 1, count * len(blocks) // (top + 1))]
                   for count in series)
