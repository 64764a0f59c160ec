"""``hearth logs``: a running Hearth's stored logs, as the console prints them or as JSON, once or followed.

The command always asks the control API for Hearth's JSON entries (``GET /hearth/logs``; with ``--follow`` a
stream of one entry per line) and renders them here, so every output format works the same way live.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click

from hearth.cli import remote
from hearth.cli.client import ClientFailure
from hearth.telemetry.logformat import FORMATS, lambda_events, text_lines

STATUSES = ("success", "error", "timeout", "throttled", "oom", "crash")
FOLLOW_READ_TIMEOUT_S = 60.0  # the server sends a keep-alive every 15 s


@click.command()
@click.argument("name", required=False)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new entries as they are stored, until Ctrl-C.")
@click.option("--since", default=None, metavar="WHEN",
              help="Only entries from then on: a duration back from now (30s, 10m, 2h, 7d) or ISO 8601.")
@click.option("--until", default=None, metavar="WHEN", help="Only entries up to then (same forms as --since).")
@click.option("--request-id", default=None, help="Only this invocation.")
@click.option("--filter", "text", default=None, metavar="TEXT", help="Only invocations with a line containing TEXT.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only invocations that ended so.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000),
              help="At most this many entries (the newest) before following.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry (same as --format json).")
@click.option("--format", "form", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text: as the console prints; json: Hearth's entries; lambda-json: Lambda's JSON log events.")
@remote.connection
def logs(name: str | None, follow: bool, since: str | None, until: str | None, request_id: str | None,
         text: str | None, status: str | None, limit: int, as_json: bool, form: str, endpoint: str,
         data_dir: Path) -> None:
    """Print stored invocation logs of NAME (of every function without it)."""
    if as_json:
        form = "json"
    if follow and until:
        remote.fail("--until and --follow do not go together: a follow never ends", 2)
    params = {key: value for key, value in (("function", name), ("since", since), ("until", until),
                                            ("request_id", request_id), ("filter", text), ("status", status))
              if value}
    params["limit"] = str(limit)
    client = remote.client(endpoint, data_dir)
    try:
        if not follow:
            for entry in client.call("GET", "/hearth/logs?" + urlencode(params)).json():
                _print(entry, form, name is None)
            sys.stdout.flush()
            return
        params["follow"] = "1"
        for raw in client.lines("/hearth/logs?" + urlencode(params), FOLLOW_READ_TIMEOUT_S):
            if not raw.strip():
                continue
            item = json.loads(raw)
            if item.get("type") == "hearth.keepalive":
                continue
            if item.get("type") == "hearth.lost":
                remote.errors_out.print(f"[yellow]hearth[/]: {item['count']} log entries lost: this follow fell "
                                        "behind")
                continue
            _print(item, form, name is None)
            sys.stdout.flush()
    except ClientFailure as failure:
        remote.fail(f"{failure.kind}: {failure.message}")
    except KeyboardInterrupt:
        sys.stdout.flush()


def _print(entry: dict[str, Any], form: str, prefix: bool) -> None:
    if form == "json":
        sys.stdout.write(json.dumps(entry, separators=(",", ":")) + "\n")
    elif form == "lambda-json":
        for event in lambda_events(entry):
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    else:
        for line in text_lines(entry, prefix):
            sys.stdout.write(line + "\n")
