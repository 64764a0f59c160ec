"""Cost reports: groups by function, version and day, per-function prices, exact sums and shares of the total."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hearth.billing.prices import PriceTable
from hearth.billing.report import cost_report
from hearth.billing.store import Usage

DAY = 1_767_225_600  # 2026-01-01T00:00:00Z
BASE = PriceTable()  # $0.0000166667 per GB-s, $0.20 per million requests, $0.0000041667 per provisioned GB-s
TEAM = BASE.overridden({"gb_second": Decimal("0.0001"), "per_million_requests": Decimal("1")})

USAGE = [
    # api: 1 000 000 requests of 100 ms at 1024 MB, split over $LATEST and version 2 on two days
    Usage("api", "$LATEST", DAY, requests=600_000, errors=6, billed_mb_ms=600_000 * 100 * 1024, init_us=1_500),
    Usage("api", "2", DAY + 86_400 + 3600, requests=400_000, billed_mb_ms=400_000 * 100 * 1024,
          provisioned_mb_ms=3_600_000 * 1024),  # and one 1 GB instance provisioned for an hour
    # batch: priced by its team's table
    Usage("batch", "$LATEST", DAY + 7200, requests=1000, cold_starts=2, billed_mb_ms=1000 * 2000 * 512),
]


def prices(function: str) -> PriceTable:
    return TEAM if function == "batch" else BASE


def test_costs_by_function_are_exact_and_priced_per_function() -> None:
    report = cost_report(USAGE, "function", prices)
    api, batch = report.lines
    # api: 0.20 (requests) + 100 000 GB-s × 0.0000166667 + 3 600 GB-s × 0.0000041667
    assert api.function == "api" and api.version is None and api.day is None
    assert api.gb_seconds == Decimal(100_000) and api.provisioned_gb_seconds == Decimal(3600)
    assert api.cost == Decimal("0.20") + Decimal("1.66667") + Decimal("0.01500012")
    # batch: 1000 requests at $1 per million + 1000 GB-s at $0.0001
    assert batch.cost == Decimal("0.001") + Decimal("0.1")
    assert (api.requests, api.errors, batch.cold_starts) == (1_000_000, 6, 2)
    assert report.total.cost == api.cost + batch.cost == Decimal("1.98267012")
    # shares: of the total cost, to six decimal places of the fraction
    assert api.share == Decimal("0.949059") and batch.share == Decimal("0.050941")


def test_costs_by_version_and_by_day() -> None:
    by_version = cost_report(USAGE, "version", prices)
    assert [(line.function, line.version) for line in by_version.lines] == [
        ("api", "$LATEST"), ("api", "2"), ("batch", "$LATEST")]  # costliest first
    assert sum((line.cost for line in by_version.lines), Decimal(0)) == by_version.total.cost
    by_day = cost_report(USAGE, "day", prices)
    assert [(line.day, line.requests) for line in by_day.lines] == [("2026-01-01", 601_000), ("2026-01-02", 400_000)]
    assert by_day.total.cost == by_version.total.cost == Decimal("1.98267012")


def test_a_free_window_has_no_shares_and_json_keeps_exact_decimals() -> None:
    report = cost_report([Usage("f", "$LATEST", DAY, requests=3, billed_mb_ms=3 * 128)],
                         "function", lambda _: PriceTable(Decimal(0), Decimal(0), Decimal(0)))
    assert report.lines[0].share == 0 and report.total.cost == 0
    line = cost_report([Usage("f", "$LATEST", DAY, requests=1, billed_mb_ms=128, init_us=12_345)],
                       "function", prices).lines[0]
    shown = line.as_json()
    assert shown["gb_seconds"] == "0.000125" and shown["init_seconds"] == "0.012345"
    assert shown["cost"] == "0.0000002020833375"  # 0.20 / 1e6 + 0.000125 × 0.0000166667
    assert shown["share"] == "1" and "version" not in shown
    with pytest.raises(ValueError, match="by must be one of"):
        cost_report([], "team", prices)
