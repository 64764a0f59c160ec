"""Power tuning's arithmetic: each memory size's durations, its cost per million invocations, and which size to pick.

- **Durations** are the function's own (the records' Duration, as REPORT prints it), not a client's round trip.
  The first invocation of each size is a cold start: it is reported on its own (its Init Duration and Duration)
  and, like any other cold invocation (one that replaced a crashed instance), left out of the statistics and the
  cost. p50 and p95 are nearest-rank percentiles (``telemetry.stats.percentile``, as ``hearth stats``).
- **Cost** is Lambda's on-demand pricing: each invocation is billed its duration rounded up to the millisecond (at
  least 1 ms) times the memory in GB (MB / 1024) at a price per GB-second, plus a price per request.
  ``cost_per_million`` takes both prices as arguments; ``LAMBDA_X86`` holds Lambda's default x86 prices.
- **Recommendations** consider only the sizes where every invocation succeeded (a size that ran out of memory or
  timed out is never recommended):

  - *cheapest*: the lowest cost per million (ties: the faster, then the smaller size);
  - *fastest*: the lowest p50 duration (ties: the cheaper, then the smaller size);
  - *balanced*: the lowest ``cost / cheapest cost × p50 / fastest p50`` (ties: the smaller size). Both factors are
    1 at their best, so this is the size whose cost and speed together lose least to the best of each: more memory
    wins while it buys proportionally more speed than it costs, and stops winning where the speed levels off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hearth.model import InvocationRecord
from hearth.telemetry.stats import percentile


@dataclass(frozen=True)
class Prices:
    """What Lambda-style compute costs, in dollars."""

    gb_second: float
    per_million_requests: float


LAMBDA_X86 = Prices(gb_second=0.0000166667, per_million_requests=0.20)  # Lambda's default x86 prices (us-east-1)


def billed_ms(duration_ms: float) -> int:
    """Lambda's billed duration of one invocation: rounded up to the millisecond, at least 1 ms."""
    return max(1, math.ceil(duration_ms))


def cost_per_million(durations_ms: Sequence[float], memory_mb: int, gb_second: float,
                     per_million_requests: float) -> float:
    """What a million invocations that last like ``durations_ms`` cost at ``memory_mb``, in dollars."""
    if not durations_ms:
        raise ValueError("no durations to price")
    mean_billed_s = sum(billed_ms(duration) for duration in durations_ms) / len(durations_ms) / 1000
    return 1_000_000 * mean_billed_s * (memory_mb / 1024) * gb_second + per_million_requests


@dataclass(frozen=True)
class SizeResult:
    """What one memory size measured: the warm durations and the cold start, and what failed."""

    memory_mb: int
    durations_ms: tuple[float, ...]  # the warm invocations' own durations, in order
    invocations: int  # every invocation made, cold ones and failures included
    errors: int  # invocations that did not succeed (error, timeout, oom, crash, throttled)
    error_type: str | None = None  # the first failure's errorType
    cold_init_ms: float | None = None  # the first invocation's Init Duration
    cold_duration_ms: float | None = None  # and its Duration

    @property
    def p50_ms(self) -> float | None:
        return percentile(sorted(self.durations_ms), 50)

    @property
    def p95_ms(self) -> float | None:
        return percentile(sorted(self.durations_ms), 95)

    def cost(self, prices: Prices) -> float | None:
        """Cost per million warm invocations; None when no warm invocation ran."""
        if not self.durations_ms:
            return None
        return cost_per_million(self.durations_ms, self.memory_mb, prices.gb_second, prices.per_million_requests)

    def to_json(self, prices: Prices) -> dict[str, Any]:
        return {"memory_mb": self.memory_mb, "invocations": self.invocations, "warm": len(self.durations_ms),
                "errors": self.errors, "error_type": self.error_type, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
                "mean_billed_ms": (sum(billed_ms(d) for d in self.durations_ms) / len(self.durations_ms)
                                   if self.durations_ms else None),
                "cost_per_million": self.cost(prices),
                "cold": {"init_ms": self.cold_init_ms, "duration_ms": self.cold_duration_ms}}


def summarize(memory_mb: int, records: Iterable[InvocationRecord]) -> SizeResult:
    """One size's result from the records of its invocations, in the order they ran."""
    durations: list[float] = []
    count = errors = 0
    error_type: str | None = None
    cold_init_ms = cold_duration_ms = None
    for record in records:
        count += 1
        if record.status != "success":
            errors += 1
            error_type = error_type or record.error_type or record.status
        if count == 1 and record.cold:
            cold_init_ms, cold_duration_ms = record.init_ms, record.duration_ms
        elif not record.cold and record.status != "throttled":
            durations.append(record.duration_ms)
    return SizeResult(memory_mb, tuple(durations), count, errors, error_type, cold_init_ms, cold_duration_ms)


@dataclass(frozen=True)
class Recommendation:
    """The memory sizes to pick (None when no size ran without failures)."""

    cheapest: int | None
    fastest: int | None
    balanced: int | None


def recommend(results: Sequence[SizeResult], prices: Prices) -> Recommendation:
    """The cheapest, fastest and balanced sizes among those that never failed (the rule is in the module's
    docstring)."""
    measured = []
    for result in results:
        cost, p50 = result.cost(prices), result.p50_ms
        if result.errors == 0 and cost is not None and p50 is not None:
            measured.append((result.memory_mb, cost, max(p50, 1e-3)))  # a 0 ms p50 would make every ratio 0
    if not measured:
        return Recommendation(None, None, None)
    cheapest = min(measured, key=lambda item: (item[1], item[2], item[0]))
    fastest = min(measured, key=lambda item: (item[2], item[1], item[0]))
    least_cost, least_p50 = cheapest[1] or 1.0, fastest[2]  # (free prices: every cost ratio is 0)
    balanced = min(measured, key=lambda item: (item[1] / least_cost * item[2] / least_p50, item[0]))
    return Recommendation(cheapest[0], fastest[0], balanced[0])


def report(results: Sequence[SizeResult], prices: Prices) -> dict[str, Any]:
    """The whole answer of a tuning run: each size, the recommendation and the prices used."""
    picked = recommend(results, prices)
    return {"sizes": [result.to_json(prices) for result in results],
            "recommendation": {"cheapest": picked.cheapest, "fastest": picked.fastest, "balanced": picked.balanced},
            "prices": {"gb_second": prices.gb_second, "per_million_requests": prices.per_million_requests},
            "cold_starts": "excluded from p50, p95 and cost; the first invocation of each size is under 'cold'"}
