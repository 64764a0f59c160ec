"""Metering and ``hearth cost`` on a real ``hearth serve``: the numbers follow the invocations exactly, with the
billing settings and a function's own prices, and survive a clean restart."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from conftest import Serve

PRICES = {"gb_second": Decimal("0.0000166667"), "per_million_requests": Decimal("0.20"),
          "provisioned_gb_second": Decimal("0.0000041667")}
TEAM_GB_SECOND = Decimal("0.0001")


def project(root: Path) -> Path:
    root.mkdir()
    (root / "app.py").write_text("import time\n\n"
                                 "def small(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 1\n\n"
                                 "def big(event, context):\n    if event.get('fail'):\n"
                                 "        raise ValueError('no')\n    return 2\n")
    (root / "hearth.toml").write_text('[functions.small]\nhandler = "app.small"\n\n'
                                      '[functions.big]\nhandler = "app.big"\nmemory_mb = 1024\n'
                                      f'price = {{ gb_second = "{TEAM_GB_SECOND}" }}\n')
    return root


def records(serve: Serve, function: str) -> list[dict[str, Any]]:
    return serve.native("/hearth/invocations", function=function)["invocations"]  # type: ignore[no-any-return]


def expected(found: list[dict[str, Any]], gb_second: Decimal) -> tuple[int, int, Decimal, Decimal]:
    """requests, errors, GB-s and cost of these records, computed here from their billed ms and memory."""
    mb_ms = sum(record["billed_ms"] * record["memory_mb"] for record in found)
    gb_s = Decimal(mb_ms) / (1024 * 1000)
    cost = Decimal(len(found)) * PRICES["per_million_requests"] / 1_000_000 + gb_s * gb_second
    errors = sum(1 for record in found if record["status"] != "success")
    return len(found), errors, gb_s, cost


def test_hearth_cost_prices_what_ran_with_the_billing_settings_and_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # 100 ms granularity without Init: what older clouds billed. A long flush interval: only a clean stop writes.
    flags = ("--quiet", "--billing-granularity", "100", "--no-bill-init", "--meter-flush-interval", "3600")
    serve = Serve(data, *flags)
    try:
        serve.deploy(project(tmp_path / "metered"))
        lam = serve.client()
        for payload in (b'{}', b'{"sleep": 0.15}', b'{}'):
            lam.invoke(FunctionName="small", Payload=payload)
        lam.invoke(FunctionName="big", Payload=b'{}')
        lam.invoke(FunctionName="big", Payload=b'{"fail": true}')
        small, big = records(serve, "small"), records(serve, "big")
        assert len(small) == 3 and len(big) == 2
        for record in small + big:  # the pool billed by the settings: whole 100 ms, Init left out
            assert record["billed_ms"] % 100 == 0 and record["billed_ms"] >= record["duration_ms"]
            assert record["billed_ms"] - record["duration_ms"] < 100
        assert max(record["billed_ms"] for record in small) >= 200  # the 150 ms sleep

        report = serve.native("/hearth/cost", since="1h")
        lines = {line["function"]: line for line in report["lines"]}
        for name, found, gb_second in (("small", small, PRICES["gb_second"]), ("big", big, TEAM_GB_SECOND)):
            requests, errors, gb_s, cost = expected(found, gb_second)
            line = lines[name]
            assert (line["requests"], line["errors"]) == (requests, errors)
            assert Decimal(line["gb_seconds"]) == gb_s and Decimal(line["cost"]) == cost
        total = Decimal(lines["small"]["cost"]) + Decimal(lines["big"]["cost"])
        assert Decimal(report["total"]["cost"]) == total and report["total"]["requests"] == 5
        assert Decimal(lines["big"]["share"]) == (Decimal(lines["big"]["cost"]) / total).quantize(Decimal("1e-6"))
        assert report["function_prices"]["big"]["gb_second"] == str(TEAM_GB_SECOND)

        shown = serve.cli("cost", "--since", "1h", "--format", "csv")
        assert shown.returncode == 0, shown.stderr
        rows = {row["function"]: row for row in csv.DictReader(io.StringIO(shown.stdout))}
        assert rows["big"]["cost"] == lines["big"]["cost"]
        assert rows["small"]["gb_seconds"] == lines["small"]["gb_seconds"]
        table = serve.cli("cost", "--since", "1h").stdout.splitlines()
        assert table[0].split()[:3] == ["FUNCTION", "REQUESTS", "ERRORS"]
        assert [line.split()[:3] for line in table[1:] if line.split()[0] in ("small", "big")] == [
            [name, str(lines[name]["requests"]), str(lines[name]["errors"])]
            for name in sorted(lines, key=lambda n: -Decimal(lines[n]["cost"]))]
        assert table[-1].split()[0] == "TOTAL" and table[-1].split()[1] == "5"
        shown_cost = {line.split()[0]: line.split()[6] for line in table[1:]}  # rounded for reading, never 1E-7
        assert shown_cost["small"] == f"{Decimal(lines['small']['cost']).quantize(Decimal('1e-10')):f}"
        by_version = json.loads(serve.cli("cost", "--since", "1h", "--by", "version", "--format", "json").stdout)
        assert {(line["function"], line["version"]) for line in by_version["lines"]} == {
            ("small", "$LATEST"), ("big", "$LATEST")}
        assert serve.cli("cost", "nothing", "--since", "1h").stdout.strip() == "no metered usage since 1h"

        lam.invoke(FunctionName="small", Payload=b'{}')  # after the last report: only the clean stop writes it
        small = records(serve, "small")
    finally:
        serve.stop()

    again = Serve(data, *flags)
    try:
        line = {line["function"]: line for line in again.native("/hearth/cost", since="1h")["lines"]}["small"]
        requests, _, gb_s, cost = expected(small, PRICES["gb_second"])
        assert (line["requests"], Decimal(line["gb_seconds"]), Decimal(line["cost"])) == (4, gb_s, cost)
        assert requests == 4
    finally:
        again.stop()
