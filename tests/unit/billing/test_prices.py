"""Billed durations and prices: the granularity, Init billed or not, and exact decimal costs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hearth.billing.prices import Billing, PriceTable, decimal_text, gb_seconds, parse_price, usage_cost
from hearth.errors import ConfigError


def test_one_ms_granularity_rounds_up_to_the_next_millisecond_with_init_billed() -> None:
    lambda_2025 = Billing()
    assert lambda_2025.billed_ms(12.2, None) == 13
    assert lambda_2025.billed_ms(12.0, None) == 12
    assert lambda_2025.billed_ms(12.2, 40.3) == 53  # 52.5 → 53: Init counts since August 2025
    assert lambda_2025.billed_ms(0.0, None) == 1  # never less than one unit


def test_init_is_left_out_when_it_is_not_billed() -> None:
    assert Billing(bill_init=False).billed_ms(12.2, 40.3) == 13
    assert Billing(granularity_ms=100, bill_init=False).billed_ms(12.2, 400.0) == 100


def test_hundred_ms_granularity_rounds_up_to_the_next_hundred() -> None:
    old_cloud = Billing(granularity_ms=100)
    assert old_cloud.billed_ms(0.4, None) == 100
    assert old_cloud.billed_ms(100.0, None) == 100
    assert old_cloud.billed_ms(100.01, None) == 200
    assert old_cloud.billed_ms(60.0, 50.0) == 200  # 110 ms with Init
    assert old_cloud.billed_ms(-3.0, None) == 100


def test_only_lambdas_granularities_are_allowed() -> None:
    with pytest.raises(ConfigError, match="1 ms .* or 100 ms"):
        Billing(granularity_ms=10)


def test_gb_seconds_and_costs_are_exact() -> None:
    # 128 MB for 1 ms is 0.000125 GB-s; a million of them at Lambda's price, with a million requests:
    assert gb_seconds(128) == Decimal("0.000125")
    cost = usage_cost(PriceTable(), requests=1_000_000, billed_mb_ms=128 * 1_000_000, provisioned_mb_ms=0)
    assert cost == Decimal("0.20") + Decimal("125") * Decimal("0.0000166667")
    assert cost == Decimal("0.2020833375")
    # floats would drift here: a third of a GB-second a million times, priced at a tenth of a cent.
    prices = PriceTable(gb_second=Decimal("0.001"), per_million_requests=Decimal(0))
    assert usage_cost(prices, 0, 1024 * 1000 // 4 * 3, 0) == Decimal("0.00075")


def test_provisioned_concurrency_is_priced_per_gb_second_held() -> None:
    # Two 256 MB instances held for an hour: 2 × 3 600 000 ms × 256 MB = 1 800 GB-s.
    held_mb_ms = 2 * 3_600_000 * 256
    assert gb_seconds(held_mb_ms) == Decimal(1800)
    assert usage_cost(PriceTable(), 0, 0, held_mb_ms) == Decimal("1800") * Decimal("0.0000041667")
    assert usage_cost(PriceTable(), 0, 0, held_mb_ms) == Decimal("0.00750006")


def test_price_overrides_replace_only_what_they_name() -> None:
    base = PriceTable()
    team = base.overridden({"gb_second": Decimal("0.00002")})
    assert team.gb_second == Decimal("0.00002") and team.per_million_requests == base.per_million_requests
    assert base.overridden({}) is base


def test_prices_keep_the_digits_they_were_written_with() -> None:
    assert parse_price(0.0000166667, "gb_second") == Decimal("0.0000166667")
    assert parse_price("0.20", "x") == Decimal("0.20") and parse_price(1, "x") == Decimal(1)
    for bad in (-1, "abc", True, float("nan"), "inf", [1]):
        with pytest.raises(ConfigError, match="number of dollars"):
            parse_price(bad, "price.gb_second")
    with pytest.raises(ConfigError, match="gb_second"):
        PriceTable(gb_second=Decimal(-1))


def test_decimals_print_in_plain_notation() -> None:
    assert decimal_text(Decimal("1.66667E-5")) == "0.0000166667"
    assert decimal_text(Decimal("0.20")) == "0.2" and decimal_text(Decimal("1E+2")) == "100"
    assert decimal_text(Decimal("0.000")) == "0"
