"""``hearth idle``, ``hearth audit``, ``hearth disable`` and ``hearth enable``: functions nobody calls, what they
still hold, and switching them off and on (``GET /hearth/idle``, ``GET /hearth/audit``,
``POST /hearth/functions/{name}/disable|enable``)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import click
from rich.markup import escape
from rich.table import Table

from hearth.cli import remote


@click.command()
@click.option("--days", default=30, show_default=True, type=click.FloatRange(min=0, min_open=True, max=3650),
              help="List functions without an invocation for at least this many days.")
@remote.connection
def idle(days: float, endpoint: str, data_dir: Path) -> None:
    """Functions without invocations for --days (and disabled ones): their code, provisioned instances and what
    those cost per 30 days, and whether they are (or will be) disabled."""
    result = remote.call_json("GET", "/hearth/idle?" + urlencode({"days": f"{days:g}"}), endpoint, data_dir)
    listing = result["functions"]
    if not listing:
        remote.out.print(f"no function has been idle for {days:g} days")
        return
    table = Table(box=None, header_style="bold")
    for column in ("FUNCTION", "LAST INVOKED (UTC)", "IDLE DAYS", "CODE", "PROVISIONED", "USD/30D HELD", "STATE"):
        table.add_column(column, justify="right" if column in ("IDLE DAYS", "CODE", "PROVISIONED",
                                                                "USD/30D HELD") else "left")
    for item in listing:
        cost = Decimal(item["provisioned_cost_30d"]).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        table.add_row(escape(item["function"]), item["last_invoked"] or "never", f"{item['idle_days']:.1f}",
                      _size(item["code_bytes"]), str(item["provisioned"]), f"{cost:f}", escape(_state(item)))
    remote.print_table(table)
    after = result["auto_disable_after_days"]
    remote.out.print("auto-disable: " + (f"after {after} days without invocations" if after is not None
                                         else "off (hearth serve --auto-disable-after-days N)"))


def _state(item: dict[str, Any]) -> str:
    disabled = item["disabled"]
    if disabled is not None:
        return f"disabled {disabled['time']} ({disabled['reason']})"
    if item["keep_alive"]:
        return "kept alive (keep_alive = true)"
    return "to be disabled" if item["auto_disable"] else "idle"


def _size(count: int) -> str:
    """Bytes for reading: ``-`` (none: a live folder), ``512 B``, ``3.4 KiB``, ``12.0 MiB``, ``1.2 GiB``."""
    if not count:
        return "-"
    if count < 1024:
        return f"{count} B"
    size = count / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@click.command()
@click.argument("name", required=False)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000),
              help="Show at most this many entries, newest first.")
@remote.connection
def audit(name: str | None, limit: int, endpoint: str, data_dir: Path) -> None:
    """The audit log of NAME (of every function without it): when functions were disabled and enabled, and why."""
    params = {"limit": str(limit), **({"function": name} if name else {})}
    entries = remote.call_json("GET", "/hearth/audit?" + urlencode(params), endpoint, data_dir)["entries"]
    if not entries:
        remote.out.print("the audit log is empty")
        return
    table = Table(box=None, header_style="bold")
    for column in ("TIME (UTC)", "FUNCTION", "ACTION", "REASON"):
        table.add_column(column)
    for entry in entries:
        table.add_row(entry["time"], escape(entry["function"]), entry["action"], escape(entry["reason"]))
    remote.print_table(table)


@click.command()
@click.argument("name")
@click.option("--reason", default=None, help="Why, for the audit log (default: \"hearth disable\").")
@remote.connection
def disable(name: str, reason: str | None, endpoint: str, data_dir: Path) -> None:
    """Switch a function off: calls answer 503 FunctionDisabled, its schedules and queue triggers are held and its
    provisioned instances released, until `hearth enable NAME`."""
    body = json.dumps({"reason": reason}).encode() if reason else b""
    result = remote.call_json("POST", f"/hearth/functions/{quote(name, safe='')}/disable", endpoint, data_dir, body)
    since = result["disabled"]
    remote.out.print(f"disabled {escape(name)}" if result["changed"]
                     else f"{escape(name)} was disabled already ({since['time']}: {escape(since['reason'])})")


@click.command()
@click.argument("name")
@remote.connection
def enable(name: str, endpoint: str, data_dir: Path) -> None:
    """Switch a disabled function back on: calls, schedules (unless paused on their own), queue triggers and
    provisioned instances."""
    result = remote.call_json("POST", f"/hearth/functions/{quote(name, safe='')}/enable", endpoint, data_dir)
    remote.out.print(f"enabled {escape(name)}" if result["changed"] else f"{escape(name)} was not disabled")
