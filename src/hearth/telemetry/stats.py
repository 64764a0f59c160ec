"""Invocation statistics over a window of the log store, for ``hearth stats`` (``GET /hearth/stats``).

Per function: how many invocations ended in the window, their rate, the share that failed (any status but
``success``), duration percentiles (nearest rank, over the invocations that ran: throttles have no duration), the
share of cold starts, and the count per equal slice of the window (for a small chart).
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

    def summary(self, seconds: float) -> dict[str, Any]:
        ran = sorted(self.durations)
        doc = {key: value for key, value in asdict(self).items() if key != "durations"}
        doc.update({
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
            stats = found[doc["function"]] = FunctionStats(doc["function"], series=[0] * slots)
        stats.invocations += 1
        stats.series[min(int((end - since) / span * slots), slots - 1)] += 1
        status = doc["status"]
        if status != "success":
            stats.errors += 1
        if status == "throttled":
            stats.throttles += 1
            continue
        stats.durations.append(doc["duration_ms"])
        if doc.get("init_ms") is not None:
            stats.cold += 1
    ordered = sorted(found.values(), key=lambda item: (-item.invocations, item.function))
    return [item.summary(until - since) for item in ordered]


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
