"""The billing flags and their HEARTH_* variables reach the settings, and a bad one stops `hearth serve` before it
binds anything, naming the flag."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from hearth.billing.prices import Billing, PriceTable
from hearth.cli.main import _billing_settings


def test_flag_values_become_settings_fields() -> None:
    fields = _billing_settings({"billing_granularity": "100", "bill_init": False, "price_gb_second": "0.00002",
                                "price_per_million_requests": "0.25", "price_provisioned_gb_second": "0",
                                "meter_flush_s": 2.5, "auto_disable_after_days": 14})
    assert fields == {"billing": Billing(100, False),
                      "prices": PriceTable(Decimal("0.00002"), Decimal("0.25"), Decimal("0")),
                      "meter_flush_s": 2.5, "auto_disable_after_days": 14}


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hearth", "serve", "--data-dir", str(tmp_path / "data"),
                           "--port", "0", "--control-port", "0", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def test_a_bad_price_or_granularity_is_refused_naming_it(tmp_path: Path) -> None:
    flag = serve(tmp_path, "--price-gb-second", "-1")
    assert flag.returncode == 2 and "--price-gb-second must be a number of dollars of at least 0" in flag.stderr
    variable = serve(tmp_path, HEARTH_PRICE_PER_MILLION_REQUESTS="cheap")
    assert variable.returncode == 2 and "--price-per-million-requests must be a number of dollars" in variable.stderr
    granularity = serve(tmp_path, HEARTH_BILLING_GRANULARITY="10")
    assert granularity.returncode == 2 and "'10' is not one of '1', '100'" in granularity.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made
