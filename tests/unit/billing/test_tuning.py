"""Power tuning's arithmetic: cost per million (exact, with the meter's prices), statistics without cold starts,
recommendations."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hearth.billing.prices import Billing, PriceTable
from hearth.billing.tuning import SizeResult, cost_per_million, recommend, report, summarize
from hearth.model import InvocationRecord

LAMBDA_X86 = PriceTable()  # the defaults: Lambda's x86 prices
BY_MS = Billing()


def record(duration_ms: float, *, init_ms: float | None = None, status: str = "success",
           error_type: str | None = None) -> InvocationRecord:
    return InvocationRecord(request_id="r", function="f", version="$LATEST", trigger="tune", start=0.0,
                            duration_ms=duration_ms, billed_ms=BY_MS.billed_ms(duration_ms, init_ms), memory_mb=128,
                            max_memory_mb=10, init_ms=init_ms, status=status, error_type=error_type)


def test_cost_per_million_with_lambdas_x86_prices_is_exact() -> None:
    # 1024 MB is 1 GB; billed 11 ms each: 0.011 GB-s per invocation
    assert cost_per_million([11, 11], 1024, LAMBDA_X86) == Decimal("0.383334")  # 0.3833337 to the millionth
    # 128 MB is 1/8 GB; billed 1 ms and 3 ms: a mean of 2 ms; 0.00025 GB-s per invocation
    assert cost_per_million([1, 3], 128, LAMBDA_X86) == Decimal("0.204167")  # 0.204166675


def test_cost_takes_the_prices_it_is_given() -> None:
    assert cost_per_million([1000], 2048, PriceTable(Decimal("0.00001"), Decimal("0"))) == Decimal("20")
    assert cost_per_million([1000], 2048, PriceTable(Decimal("0"), Decimal("0.25"))) == Decimal("0.25")
    with pytest.raises(ValueError):
        cost_per_million([], 128, LAMBDA_X86)


def test_the_billed_durations_are_the_records_own() -> None:
    by_100 = Billing(granularity_ms=100)
    records = [record(5.0, init_ms=1.0), record(3.0), record(120.0)]
    records = [item._replace(billed_ms=by_100.billed_ms(item.duration_ms, item.init_ms)) for item in records]
    result = summarize(128, records)
    assert result.billed_ms == (100, 200)
    assert result.cost(LAMBDA_X86) == cost_per_million([100, 200], 128, LAMBDA_X86)


def test_the_cold_start_is_reported_apart_and_left_out_of_the_statistics() -> None:
    result = summarize(256, [record(50.0, init_ms=12.0), *(record(float(ms)) for ms in range(1, 21))])
    assert result.cold_init_ms == 12.0
    assert result.cold_duration_ms == 50.0
    assert result.durations_ms == tuple(float(ms) for ms in range(1, 21))
    assert result.billed_ms == tuple(range(1, 21))
    assert result.invocations == 21
    assert result.errors == 0
    assert result.p50_ms == 10.0  # nearest rank over the 20 warm ones
    assert result.p95_ms == 19.0


def test_failures_are_counted_and_a_later_cold_start_is_not_a_warm_duration() -> None:
    result = summarize(128, [record(5.0, init_ms=1.0), record(3000.0, status="timeout", error_type="Sandbox.Timedout"),
                             record(4.0, init_ms=2.0), record(0.0, status="throttled",
                                                               error_type="TooManyRequestsException"),
                             record(6.0)])
    assert result.errors == 2
    assert result.error_type == "Sandbox.Timedout"
    assert result.durations_ms == (3000.0, 6.0)  # the replacement's cold start and the throttle are left out


def size(memory_mb: int, duration_ms: float, errors: int = 0) -> SizeResult:
    return SizeResult(memory_mb, (duration_ms,) * 5, (BY_MS.billed_ms(duration_ms, None),) * 5, 6, errors)


def test_a_cpu_bound_function_is_best_where_its_speed_levels_off() -> None:
    # duration halves with each doubling up to 1024 MB, then stays: cost is flat, then doubles
    results = [size(128, 800.0), size(256, 400.0), size(512, 200.0), size(1024, 100.0), size(2048, 100.0)]
    costs = {result.memory_mb: result.cost(LAMBDA_X86) for result in results}
    assert costs[128] == costs[1024]  # the same GB-seconds
    assert costs[2048] == 2 * costs[1024] - Decimal("0.20")
    picked = recommend(results, LAMBDA_X86)
    assert picked.cheapest == 1024  # a tie in cost goes to the faster size
    assert picked.fastest == 1024  # 2048 is as fast and dearer
    assert picked.balanced == 1024


def test_ties_in_cost_go_to_the_faster_size() -> None:
    results = [size(128, 800.0), size(256, 399.5)]  # billed 400 ms at 256 MB costs what 800 ms at 128 MB does
    assert results[0].cost(LAMBDA_X86) == results[1].cost(LAMBDA_X86)
    assert recommend(results, LAMBDA_X86).cheapest == 256


def test_a_function_that_does_not_speed_up_is_best_small() -> None:
    results = [size(128, 2.0), size(512, 2.0), size(2048, 2.0)]
    picked = recommend(results, LAMBDA_X86)
    assert (picked.cheapest, picked.fastest, picked.balanced) == (128, 128, 128)


def test_balanced_is_the_lowest_product_of_normalised_cost_and_duration() -> None:
    prices = PriceTable(Decimal(1), Decimal(0))  # cost ∝ memory × billed duration
    results = [size(128, 1000.0), size(256, 600.0), size(512, 350.0), size(1024, 300.0)]
    # cost: 128000, 153600, 179200, 307200 (× 1e6 / 1024 / 1000); p50: 1000, 600, 350, 300
    picked = recommend(results, prices)
    assert picked.cheapest == 128
    assert picked.fastest == 1024
    scores = {r.memory_mb: float((r.cost(prices) or 0) / (results[0].cost(prices) or 1)) * (r.p50_ms or 0) / 300.0
              for r in results}
    assert min(scores, key=lambda memory_mb: scores[memory_mb]) == 512
    assert picked.balanced == 512


def test_sizes_with_failures_are_never_recommended() -> None:
    results = [size(128, 10.0, errors=1), size(256, 10.0)]
    picked = recommend(results, LAMBDA_X86)
    assert (picked.cheapest, picked.fastest, picked.balanced) == (256, 256, 256)
    nothing = recommend([size(128, 10.0, errors=6)], LAMBDA_X86)
    assert (nothing.cheapest, nothing.fastest, nothing.balanced) == (None, None, None)


def test_report_shape() -> None:
    shown = report([size(128, 10.0), SizeResult(256, (), (), 6, 6, "Runtime.OutOfMemory")], LAMBDA_X86,
                   Billing(100, False))
    first, second = shown["sizes"]
    assert first["memory_mb"] == 128 and first["warm"] == 5 and first["mean_billed_ms"] == 10
    assert first["cost_per_million"] == "0.220833"  # 1e6 × 0.010 s × 0.125 GB × 0.0000166667 + 0.20
    assert second["p50_ms"] is None and second["cost_per_million"] is None
    assert second["error_type"] == "Runtime.OutOfMemory"
    assert shown["recommendation"] == {"cheapest": 128, "fastest": 128, "balanced": 128}
    assert shown["prices"] == {"gb_second": "0.0000166667", "per_million_requests": "0.2",
                               "provisioned_gb_second": "0.0000041667"}
    assert shown["billing"] == {"granularity_ms": 100, "bill_init": False}


def test_sub_millisecond_speed_does_not_buy_balance() -> None:
    # a hello world: every size is under a millisecond, the larger ones a few µs faster and dearer
    results = [size(128, 0.02), size(512, 0.015), size(1769, 0.01)]
    picked = recommend(results, LAMBDA_X86)
    assert picked.fastest == 1769
    assert picked.cheapest == 128
    assert picked.balanced == 128
