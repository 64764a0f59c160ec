"""``hearth secret set|ls|rm|rotate-key``: the secrets of a running Hearth (``/hearth/secrets``, api/secrets.py).

A value is read from stdin (a prompt that does not echo on a terminal) or ``--from-file``, never from the
command line, where ``ps`` and shell history would keep it; nothing here ever prints one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape
from rich.table import Table

from hearth.cli import remote


@click.group()
def secret() -> None:
    """Secrets functions read (manifest: secrets = ["NAME"]), stored encrypted; values are never shown."""


@secret.command("set")
@click.argument("name")
@click.option("--from-file", "from_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the value from this file, as it is (default: stdin, one trailing newline dropped).")
@remote.connection
def set_secret(name: str, from_file: Path | None, endpoint: str, data_dir: Path) -> None:
    """Set a secret (a new version if it exists); instances that hold the old value are replaced."""
    if from_file is not None:
        try:
            value = from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            remote.fail(f"cannot read {from_file}: {getattr(exc, 'strerror', None) or exc}", 2)
    elif sys.stdin.isatty():
        value = click.prompt(f"value of {name}", hide_input=True, err=True)
    else:
        value = sys.stdin.read()
        value = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    if not value:
        remote.fail(f"no value for {name}: pipe it on stdin (`hearth secret set {name} < file`) or use --from-file; "
                    "an empty secret is refused here, as it is almost always a mistake", 2)
    body = json.dumps({"value": value}).encode()
    result = remote.call_json("PUT", f"/hearth/secrets/{quote(name, safe='')}", endpoint, data_dir, body)
    users, routes = result["functions"], result.get("routes", [])
    said = [f"new instances of {escape(', '.join(users))} get it"] if users else []
    said += [f"route {escape(', '.join(routes))} checks callers with it from the next request"] if routes else []
    remote.out.print(f"set {escape(result['name'])} (version {result['version']})"
                     + ("; " + "; ".join(said) if said else
                        "; no function reads it yet (manifest: secrets = [\"" + escape(result["name"]) + "\"])"))


@secret.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@remote.connection
def list_secrets(as_json: bool, endpoint: str, data_dir: Path) -> None:
    """List secrets: name, version, when set, and the functions that read each (never values)."""
    result = remote.call_json("GET", "/hearth/secrets", endpoint, data_dir)
    if as_json:
        remote.out.print(json.dumps(result, indent=2), markup=False)
        return
    if not result["secrets"] and not result["missing"]:
        remote.out.print("no secrets; set one with `hearth secret set NAME`")
        return
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "VERSION", "UPDATED (UTC)", "FUNCTIONS"):
        table.add_column(column, justify="right" if column == "VERSION" else "left")
    for item in result["secrets"]:
        table.add_row(escape(item["name"]), str(item["version"]), item["updated"], _users(item) or "-")
    for item in result["missing"]:
        table.add_row(escape(item["name"]), "[red]not set[/]", "-", _users(item))
    remote.print_table(table)


def _users(item: dict[str, Any]) -> str:
    """The functions and routes that read a secret, for the FUNCTIONS column."""
    return escape(", ".join([*item["functions"], *(f"route {key}" for key in item.get("routes", []))]))


@secret.command("rm")
@click.argument("name")
@remote.connection
def remove_secret(name: str, endpoint: str, data_dir: Path) -> None:
    """Remove a secret; functions that read it fail to start new instances until it is set again."""
    result = remote.call_json("DELETE", f"/hearth/secrets/{quote(name, safe='')}", endpoint, data_dir)
    users = result["functions"]
    remote.out.print(f"removed {escape(result['deleted'])}"
                     + (f"; {escape(', '.join(users))} still read it (Runtime.MissingSecret)" if users else ""))


@secret.command("rotate-key")
@click.option("--new-key-from-file", "new_key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The new master key (32 bytes in base64). Required when Hearth runs with HEARTH_MASTER_KEY; "
                   "else a random key replaces the data folder's master.key.")
@remote.connection
def rotate_key(new_key_file: Path | None, endpoint: str, data_dir: Path) -> None:
    """Re-encrypt every secret with a new master key, in one transaction."""
    body = b""
    if new_key_file is not None:
        try:
            body = json.dumps({"new_key": new_key_file.read_text(encoding="ascii").strip()}).encode()
        except (OSError, UnicodeDecodeError) as exc:
            remote.fail(f"cannot read {new_key_file}: {getattr(exc, 'strerror', None) or exc}", 2)
    result = remote.call_json("POST", "/hearth/secrets/rotate-key", endpoint, data_dir, body)
    remote.out.print(f"re-encrypted {result['resealed']} secrets with the new master key ({escape(result['key'])})")
    if result["from_environment"]:
        remote.out.print("restart Hearth with HEARTH_MASTER_KEY set to the new key: the old one no longer opens "
                         "the secrets")
