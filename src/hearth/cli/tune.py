"""``hearth tune``: power tuning through the control API (``POST /hearth/tune/{name}``, api/tune.py).

The platform runs the function at each memory size on temporary versions and streams its progress, which is
shown on stderr; the table and the recommendations go to stdout (``--json``: the whole result as JSON), and
``--plot`` draws duration and cost against memory (cli/plot.py).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape
from rich.table import Table

from hearth.cli import remote
from hearth.cli.client import ClientFailure
from hearth.cli.plot import PlotError, check_target, write_plot
from hearth.model import MEMORY_MB_RANGE

DEFAULT_SIZES = "128,256,512,1024,2048"
READ_TIMEOUT_S = 120.0  # the platform sends a line at least every 15 s (progress or keep-alive)


def parse_sizes(text: str) -> list[int]:
    """``128,256,512`` → sorted sizes in MB, each from 128 to 10240; ``click.BadParameter`` otherwise."""
    low, high = MEMORY_MB_RANGE
    sizes = set()
    for part in text.split(","):
        part = part.strip().removesuffix("MB").removesuffix("mb").strip()
        if not part.isdigit() or not low <= int(part) <= high:
            raise click.BadParameter(f"{part or '(empty)'!s} is not a memory size: give whole MB from {low} to "
                                     f"{high}, separated by commas (e.g. {DEFAULT_SIZES})")
        sizes.add(int(part))
    return sorted(sizes)


def parse_payload(text: str) -> Any:
    """The event: JSON text, or ``@FILE`` holding it; ``click.BadParameter`` naming the file and the fault."""
    source = "--payload"
    if text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot read {source}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise click.BadParameter(f"{source} is not UTF-8 text; the payload must be JSON") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column "
                                 f"{exc.colno}") from None


@click.command()
@click.argument("name")
@click.option("--memory", "-m", "sizes", default=DEFAULT_SIZES, show_default=True, metavar="MB,MB,…",
              callback=lambda ctx, param, value: parse_sizes(value),
              help="Memory sizes to try, in MB (128 to 10240).")
@click.option("--payload", "-p", default="{}", show_default=True, metavar="JSON|@FILE",
              callback=lambda ctx, param, value: parse_payload(value),
              help="The event every invocation gets: JSON text, or @FILE to read it.")
@click.option("--runs", "-n", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Warm invocations per size (after one cold start, which is reported apart).")
@click.option("--parallel", is_flag=True,
              help="Run the sizes at the same time (faster; they then share the CPUs, which can skew durations).")
@click.option("--qualifier", "-q", default=None, help="A version number or alias to tune (default: $LATEST).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw duration and cost against memory: a .html file (SVG) or a .png (needs matplotlib).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON instead of a table.")
@remote.connection
def tune(name: str, sizes: list[int], payload: Any, runs: int, parallel: bool, qualifier: str | None,
         plot: Path | None, as_json: bool, endpoint: str, data_dir: Path) -> None:
    """Run NAME at several memory sizes on temporary versions and recommend one (cheapest, fastest, balanced).

    The function itself, its $LATEST configuration and its versions are left as they are.
    """
    if plot is not None:
        try:
            check_target(plot)
        except PlotError as error:
            remote.fail(str(error), 2)
    body = json.dumps({"memory_mb": sizes, "payload": payload, "runs": runs, "parallel": parallel}).encode()
    path = f"/hearth/tune/{quote(name, safe='')}" + (f"?Qualifier={quote(qualifier, safe='')}" if qualifier else "")
    result: dict[str, Any] | None = None
    try:
        with remote.errors_out.status("starting") as status:
            done: dict[int, int] = {}
            for raw in remote.client(endpoint, data_dir).lines(path, READ_TIMEOUT_S, "POST", body,
                                                                 {"Content-Type": "application/json"}):
                if not raw.strip():
                    continue
                event = json.loads(raw)
                kind = event.get("type")
                if kind == "start":
                    note(f"tuning {event['function']}:{event['version']} at {_mb(event['memory_mb'])}, "
                         f"1 cold + {event['runs']} warm invocations each"
                         f"{' (sizes in parallel)' if event['parallel'] else ''}; cpu shares: {event['cpu']}")
                    if str(event["cpu"]).startswith("not limited"):
                        remote.errors_out.print("[yellow]hearth[/]: CPU does not follow memory on this platform: "
                                                "every size gets the same CPU, so durations will not show what "
                                                "more memory would buy on Lambda")
                elif kind == "progress":
                    done[event["memory_mb"]] = event["done"]
                    status.update(" ".join(f"{size} MB {done.get(size, 0)}/{event['total']}" for size in sizes))
                    if event["done"] == event["total"]:
                        note(f"{event['memory_mb']} MB done ({event['total']} invocations)")
                elif kind == "error":
                    remote.fail(f"{event['errorType']}: {event['message']}")
                elif kind == "result":
                    result = event
    except ClientFailure as failure:
        remote.fail(f"{failure.kind}: {failure.message}")
    except KeyboardInterrupt:  # closing the connection stops the run and its temporary versions on the platform
        remote.fail("interrupted: the platform stops the run and removes its temporary versions", 130)
    if result is None:
        remote.fail("the platform ended the answer without a result; see its log")
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        show(result)
    if plot is not None:
        try:
            write_plot(result, name, plot)
        except (PlotError, OSError) as error:
            remote.fail(f"cannot write {plot}: {error}", 1)
        note(f"plot: {plot}")


def show(result: dict[str, Any]) -> None:
    """The table of sizes and the three recommendations."""
    picked = result["recommendation"]
    table = Table(box=None, header_style="bold")
    for column in ("MEMORY", "P50 MS", "P95 MS", "COST / 1M", "ERRORS", "COLD INIT MS", "COLD MS", ""):
        table.add_column(column, justify="left" if column in ("MEMORY", "") else "right")
    for size in result["sizes"]:
        marks = ", ".join(name for name, memory_mb in picked.items() if memory_mb == size["memory_mb"])
        errors = f"{size['errors']}" + (f" {size['error_type']}" if size["error_type"] else "")
        table.add_row(f"{size['memory_mb']} MB", _ms(size["p50_ms"]), _ms(size["p95_ms"]),
                      "-" if size["cost_per_million"] is None else f"${Decimal(size['cost_per_million']):.4f}",
                      escape(errors), _ms(size["cold"]["init_ms"]), _ms(size["cold"]["duration_ms"]), marks)
    remote.print_table(table)
    by_size = {size["memory_mb"]: size for size in result["sizes"]}
    if picked["cheapest"] is None:
        remote.out.print("no recommendation: every size had failed invocations")
        return
    cheapest, fastest, balanced = (by_size[picked[key]] for key in ("cheapest", "fastest", "balanced"))
    remote.out.print(f"cheapest: {cheapest['memory_mb']} MB (${Decimal(cheapest['cost_per_million']):.4f} per 1M "
                     "invocations)")
    remote.out.print(f"fastest:  {fastest['memory_mb']} MB (p50 {_ms(fastest['p50_ms'])} ms)")
    remote.out.print(f"balanced: {balanced['memory_mb']} MB (lowest cost/cheapest × p50/fastest: "
                     f"${Decimal(balanced['cost_per_million']):.4f} per 1M, p50 {_ms(balanced['p50_ms'])} ms)")
    prices, billing = result["prices"], result["billing"]
    remote.out.print(f"[dim]warm invocations only (the first, cold one of each size is under COLD); prices: "
                     f"${prices['gb_second']} per GB-second, ${prices['per_million_requests']} per 1M requests, "
                     f"billed per {billing['granularity_ms']} ms[/]")


def note(message: str) -> None:
    """A progress line on stderr (stdout keeps the result)."""
    remote.errors_out.print(f"[dim]hearth[/]: {escape(message)}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mb(sizes: list[int]) -> str:
    return ", ".join(f"{size}" for size in sizes) + " MB"
