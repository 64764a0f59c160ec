"""Power tuning's arithmetic: each memory size's durations, its cost per million invocations, and which size to pick.

- **Durations** are the function's own (the records' Duration, as REPORT prints it), not a client's round trip.
  The first invocation of each size is a cold start: it is reported on its own (its Init Duration and Duration)
  and, like any other cold invocation (one that replaced a crashed instance), left out of the statistics and the
  cost. p50 and p95 are nearest-rank percentiles (``telemetry.stats.percentile``, as ``hearth stats``).
- **Cost** is what the meter would charge (``billing/prices.py``): each warm invocation's billed duration as its
  record carries it (the platform's ``Billing``: 1 or 100 ms steps) times the memory, at the function's
  ``PriceTable`` (the platform's prices with the function's overrides), plus the request price; per million
  invocations, rounded to a millionth of a dollar.
- **Recommendations** consider only the sizes where every invocation succeeded (a size that ran out of memory or
  timed out is never recommended):

  - *cheapest*: the lowest cost per million (ties: the faster, then the smaller size);
  - *fastest*: the lowest p50 duration (ties: the cheaper, then the smaller size);
  - *balanced*: the lowest ``cost / cheapest cost × p50 / fastest p50`` (ties: the smaller size). Both factors are
    1 at their best, so this is the size whose cost and speed together lose least to the best of each: more memory
    wins while it buys proportionally more speed than it costs, and stops winning where the speed levels off.
    Durations under ``BALANCE_FLOOR_MS`` count as that floor here: sub-millisecond differences are noise to a
    caller and bill the same, and without the floor a hello world's 0.01 against 0.02 ms made the dearest size
    "balanced".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from hearth.billing.prices import EXACT, Billing, PriceTable, decimal_text, usage_cost
from hearth.model import InvocationRecord
from hearth.telemetry.stats import percentile

PER_MILLION = 1_000_000
BALANCE_FLOOR_MS = 1.0  # the smallest duration difference "balanced" weighs
COST_STEP = Decimal("0.000001")  # a per-million cost is an average: shown to a millionth of a dollar


def cost_per_million(billed_ms: Sequence[int], memory_mb: int, prices: PriceTable) -> Decimal:
    """What a million invocations billed like ``billed_ms`` cost at ``memory_mb`` and ``prices``, in dollars."""
    if not billed_ms:
        raise ValueError("no billed durations to price")
    with localcontext(EXACT):
        cost = usage_cost(prices, len(billed_ms), sum(billed_ms) * memory_mb, 0)
        return (cost * PER_MILLION / len(billed_ms)).quantize(COST_STEP, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class SizeResult:
    """What one memory size measured: the warm durations and the cold start, and what failed."""

    memory_mb: int
    durations_ms: tuple[float, ...]  # the warm invocations' own durations, in order
    billed_ms: tuple[int, ...]  # and what each was billed (the records' own)
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

    def cost(self, prices: PriceTable) -> Decimal | None:
        """Cost per million warm invocations; None when no warm invocation ran."""
        if not self.billed_ms:
            return None
        return cost_per_million(self.billed_ms, self.memory_mb, prices)

    def to_json(self, prices: PriceTable) -> dict[str, Any]:
        cost = self.cost(prices)
        return {"memory_mb": self.memory_mb, "invocations": self.invocations, "warm": len(self.durations_ms),
                "errors": self.errors, "error_type": self.error_type, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
                "mean_billed_ms": sum(self.billed_ms) / len(self.billed_ms) if self.billed_ms else None,
                "cost_per_million": None if cost is None else decimal_text(cost),
                "cold": {"init_ms": self.cold_init_ms, "duration_ms": self.cold_duration_ms}}


def summarize(memory_mb: int, records: Iterable[InvocationRecord]) -> SizeResult:
    """One size's result from the records of its invocations, in the order they ran."""
    durations: list[float] = []
    billed: list[int] = []
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
            billed.append(record.billed_ms)
    return SizeResult(memory_mb, tuple(durations), tuple(billed), count, errors, error_type, cold_init_ms,
                      cold_duration_ms)


@dataclass(frozen=True)
class Recommendation:
    """The memory sizes to pick (None when no size ran without failures)."""

    cheapest: int | None
    fastest: int | None
    balanced: int | None


def recommend(results: Sequence[SizeResult], prices: PriceTable) -> Recommendation:
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
    least_cost = cheapest[1] or Decimal(1)  # (free prices: every cost ratio is 0)
    least_p50 = max(fastest[2], BALANCE_FLOOR_MS)
    balanced = min(measured, key=lambda item: (
        float(item[1] / least_cost) * max(item[2], BALANCE_FLOOR_MS) / least_p50, item[0]))
    return Recommendation(cheapest[0], fastest[0], balanced[0])


def report(results: Sequence[SizeResult], prices: PriceTable, billing: Billing) -> dict[str, Any]:
    """The whole answer of a tuning run: each size, the recommendation, and the prices and billing used."""
    picked = recommend(results, prices)
    return {"sizes": [result.to_json(prices) for result in results],
            "recommendation": {"cheapest": picked.cheapest, "fastest": picked.fastest, "balanced": picked.balanced},
            "prices": prices.as_json(),
            "billing": {"granularity_ms": billing.granularity_ms, "bill_init": billing.bill_init},
            "cold_starts": "excluded from p50, p95 and cost; the first invocation of each size is under 'cold'"}
