"""``hearth stats``: a running Hearth's invocation statistics over a window (``GET /hearth/stats``), as a table with
a small chart of invocations over the window."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import click
from rich.markup import escape
from rich.table import Table

from hearth.cli import remote
from hearth.cli.client import ClientFailure
from hearth.telemetry.stats import sparkline


@click.command()
@click.argument("name", required=False)
@click.option("--since", default="1h", show_default=True, metavar="WHEN",
              help="The window's start: a duration back from now (10m, 1h, 7d), or ISO 8601.")
@remote.connection
def stats(name: str | None, since: str, endpoint: str, data_dir: Path) -> None:
    """Invocation rate, errors, duration percentiles and cold starts of NAME (of every function without it)."""
    params = {"since": since, **({"function": name} if name else {})}
    try:
        result = remote.client(endpoint, data_dir).call("GET", "/hearth/stats?" + urlencode(params)).json()
    except ClientFailure as failure:
        remote.fail(f"{failure.kind}: {failure.message}")
    functions = result["functions"]
    if not functions:
        remote.out.print(f"no invocations since {since}")
        return
    table = Table(box=None, header_style="bold")
    for column in ("FUNCTION", "CALLS", "RATE/S", "ERRORS", "P50 MS", "P95 MS", "P99 MS", "COLD",
                   f"OVER {since.upper()}"):
        table.add_column(column, justify="left" if column == "FUNCTION" else "right")
    for item in functions:
        table.add_row(escape(item["function"]), str(item["invocations"]), f"{item['rate_per_s']:.2f}",
                      f"{item['error_pct']:.1f}%", _ms(item["p50_ms"]), _ms(item["p95_ms"]), _ms(item["p99_ms"]),
                      f"{item['cold_pct']:.1f}%", sparkline(item["series"]))
    remote.print_table(table)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
