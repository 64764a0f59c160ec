"""``hearth cost``: what a running Hearth's metered usage costs (``GET /hearth/cost``), as a table, CSV or JSON.

The table rounds for reading (GB-seconds to 0.000001, dollars to 0.0000000001); CSV and JSON carry the exact
decimals the control API computed."""

from __future__ import annotations

import csv
import json
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click
from rich.markup import escape
from rich.table import Table

from hearth.billing.report import GROUPINGS
from hearth.cli import remote
from hearth.cli.client import ClientFailure

FORMATS = ("table", "csv", "json")
CSV_COLUMNS = ("requests", "errors", "cold_starts", "gb_seconds", "provisioned_gb_seconds", "init_seconds",
               "duration_seconds", "cost", "share")


@click.command()
@click.argument("name", required=False)
@click.option("--since", default="30d", show_default=True, metavar="WHEN",
              help="The window's start: a duration back from now (24h, 7d, 30d), or ISO 8601; whole hours.")
@click.option("--by", default="function", show_default=True, type=click.Choice(GROUPINGS),
              help="One line per function, per function version, or per UTC day.")
@click.option("--format", "output", default="table", show_default=True, type=click.Choice(FORMATS),
              help="A table to read, or CSV or JSON with exact decimals.")
@remote.connection
def cost(name: str | None, since: str, by: str, output: str, endpoint: str, data_dir: Path) -> None:
    """Requests, GB-seconds, cost and share of the total of NAME (of every function without it)."""
    params = {"since": since, "by": by, **({"function": name} if name else {})}
    try:
        report = remote.client(endpoint, data_dir).call("GET", "/hearth/cost?" + urlencode(params)).json()
    except ClientFailure as failure:
        remote.fail(f"{failure.kind}: {failure.message}")
    if output == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    keys = ["day"] if by == "day" else ["function", "version"] if by == "version" else ["function"]
    if output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([*keys, *CSV_COLUMNS])
        for line in report["lines"]:
            writer.writerow([*(line[key] for key in keys), *(line[column] for column in CSV_COLUMNS)])
        return
    if not report["lines"]:
        remote.out.print(f"no metered usage since {since}")
        return
    table = Table(box=None, header_style="bold")
    for column in (*(key.upper() for key in keys), "REQUESTS", "ERRORS", "GB-S", "PROVISIONED GB-S", "INIT S",
                   "COST (USD)", "SHARE"):
        table.add_column(column, justify="left" if column.lower() in keys else "right")
    for line in report["lines"]:
        table.add_row(*(escape(line[key]) for key in keys), *_figures(line))
    table.add_row(*(["TOTAL"] + [""] * (len(keys) - 1)), *_figures(report["total"]), style="bold")
    remote.print_table(table)


def _figures(line: dict[str, Any]) -> list[str]:
    share = Decimal(line["share"]) * 100
    return [str(line["requests"]), str(line["errors"]), _rounded(line["gb_seconds"], "0.000001"),
            _rounded(line["provisioned_gb_seconds"], "0.000001"), _rounded(line["init_seconds"], "0.001"),
            _rounded(line["cost"], "0.0000000001"), f"{share.quantize(Decimal('0.01'), ROUND_HALF_EVEN):f}%"]


def _rounded(exact: str, places: str) -> str:
    return format(Decimal(exact).quantize(Decimal(places), ROUND_HALF_EVEN), "f")  # never 6.4E-7
