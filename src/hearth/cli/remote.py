"""The commands that talk to a running Hearth over its control API: invoke, deploy, publish, ls, rm, projects,
rm-project, schedules, pause-schedule, resume-schedule, queues, send (and ``logs``, in cli/logs.py, which shares
``connection``, ``client`` and ``fail``)."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hearth.cli.client import DEFAULT_DATA_DIR, DEFAULT_ENDPOINT, ClientFailure, ControlClient, find_credentials
from hearth.errors import HearthError

out = Console(highlight=False, soft_wrap=True)
errors_out = Console(stderr=True, highlight=False, soft_wrap=True)
_UNBOUNDED_WIDTH = 10_000  # a table is as wide as its widest values; this only lifts rich's cap
_ACTION_STYLE = {"created": "green", "updated": "yellow", "deleted": "red", "skipped": "magenta", "unchanged": "dim"}


def fail(message: str, code: int = 1) -> NoReturn:
    errors_out.print(f"[bold red]error[/]: {escape(message)}")
    sys.exit(code)


def connection(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every remote command shares: where Hearth is and where its key is."""
    func = click.option("--data-dir", default=str(DEFAULT_DATA_DIR), show_default=True, envvar="HEARTH_DATA_DIR",
                        type=click.Path(file_okay=False, path_type=Path),
                        help="Where to find the admin key (when AWS_ACCESS_KEY_ID or HEARTH_TOKEN is not set).")(func)
    func = click.option("--endpoint", default=DEFAULT_ENDPOINT, show_default=True, envvar="HEARTH_ENDPOINT",
                        help="Control API of a running Hearth.")(func)
    return func


def client(endpoint: str, data_dir: Path) -> ControlClient:
    return ControlClient(endpoint, find_credentials(os.environ, data_dir))


def call_json(method: str, path: str, endpoint: str, data_dir: Path, body: bytes = b"") -> Any:
    """Call the control API and decode its JSON answer; a failure ends the command with its message."""
    headers = {"Content-Type": "application/json"} if body else None
    try:
        return client(endpoint, data_dir).call(method, path, body, headers).json()
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")


def _function_path(name: str, suffix: str = "", qualifier: str | None = None) -> str:
    path = f"/2015-03-31/functions/{quote(name, safe='')}{suffix}"
    return path + (f"?Qualifier={quote(qualifier, safe='')}" if qualifier else "")


@click.command()
@click.argument("name")
@click.option("--data", "-d", default="{}", show_default=True, help="The event: JSON text, or @FILE to read it.")
@click.option("--qualifier", "-q", default=None, help="A version number or alias (default: $LATEST).")
@click.option("--logs", is_flag=True, help="Also print the invocation's log tail to stderr.")
@click.option("--async", "run_async", is_flag=True,
              help="Invoke asynchronously (InvocationType Event): print the request id once the event is stored.")
@connection
def invoke(name: str, data: str, qualifier: str | None, logs: bool, run_async: bool, endpoint: str,
           data_dir: Path) -> None:
    """Invoke a function and print its result (exit status 1 on a function error), or with --async, queue it."""
    if data.startswith("@"):
        try:
            data = Path(data[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {data[1:]}: {exc.strerror}", 2)
    try:
        json.loads(data)
    except json.JSONDecodeError as exc:
        fail(f"--data is not valid JSON: {exc}", 2)
    if run_async and logs:
        fail("--logs needs a synchronous invocation; an asynchronous one has no result to wait for", 2)
    headers = {"Content-Type": "application/json", **({"X-Amz-Log-Type": "Tail"} if logs else {}),
               **({"X-Amz-Invocation-Type": "Event"} if run_async else {})}
    try:
        reply = client(endpoint, data_dir).call("POST", _function_path(name, "/invocations", qualifier),
                                                 data.encode(), headers)
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    if run_async:
        out.print(f"accepted {reply.headers.get('x-amzn-requestid', '')} ({name}"
                  f"{':' + qualifier if qualifier else ''}, status {reply.status})")
        return
    tail = reply.headers.get("x-amz-log-result")
    if logs and tail:
        sys.stderr.write(base64.b64decode(tail).decode(errors="replace"))
    sys.stdout.write(reply.body.decode(errors="replace") + "\n")
    if reply.headers.get("x-amz-function-error"):
        sys.exit(1)


@click.command()
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--installer", default="auto", show_default=True, type=click.Choice(["auto", "uv", "pip"]),
              help="What installs requirements.txt into the package.")
@connection
def deploy(project_dir: Path, installer: str, endpoint: str, data_dir: Path) -> None:
    """Package a project folder (installing its requirements.txt) and deploy it to a running `hearth serve`."""
    from hearth.config.include import included
    from hearth.config.manifest import MANIFEST_NAME, load_project
    from hearth.config.package import build_package
    from hearth.config.vercel import CONFIG_NAME

    started = time.perf_counter()
    try:
        project = load_project(project_dir)  # a bad manifest fails here, with its local line numbers
        # The configuration travels apart from the code, so that editing it leaves the package unchanged.
        vercel = project.layout == "vercel"
        configuration = frozenset({MANIFEST_NAME, CONFIG_NAME} if vercel else {MANIFEST_NAME})
        with errors_out.status("packaging") as status:
            package = build_package(project.root, python=sys.executable, installer=installer,
                                    cache_dir=data_dir.expanduser() / "cache", exclude=configuration,
                                    include=included(project), progress=lambda message: status.update(escape(message)))
            if vercel:  # its vercel.json and the hearth.toml that places it, either of which may be missing
                manifest = json.dumps({name: _text_of(project.root / name) for name in sorted(configuration)}).encode()
            else:
                manifest = project.manifest.read_bytes()
            status.update(f"uploading {package.sha256[:12]} ({package.unzipped_size / 1e6:.1f} MB unzipped, "
                          f"{len(package.data) / 1e6:.1f} MB zipped)")
            reply = client(endpoint, data_dir).call("POST", "/hearth/deploy", manifest + package.data, {
                "Content-Type": "application/vnd.hearth.deploy", "X-Hearth-Manifest-Length": str(len(manifest)),
                "X-Hearth-Project": project.name, "X-Hearth-Layout": project.layout})
    except HearthError as error:
        fail(error.message, 2)
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    result = reply.json()
    stored = "stored" if result["package"]["stored"] else "already stored"
    out.print(f"package {result['package']['sha256'][:12]} ({package.files} files, {stored})")
    for change in result["changes"]:
        style = _ACTION_STYLE.get(change["action"], "")
        detail = f" {change['detail']}" if change["detail"] else ""
        out.print(f"  [{style}]{change['action']:<9}[/] {escape(change['subject'])}{escape(detail)}")
    gateway = result.get("gateway")
    for route in result["routes"]:
        where = f"{gateway}{route['path']}" if gateway else route["path"]
        out.print(f"  {','.join(route['methods'])} {escape(where)} → {escape(route['target'])}{_auth_note(route)}")
    out.print(f"deployed in {time.perf_counter() - started:.2f} s")


def _auth_note(route: dict[str, Any]) -> str:
    """`` (auth: jwt)`` for a route that requires auth (the API shows its kind, never where its secret is)."""
    return f" (auth: {escape(str(route['auth']))})" if route.get("auth") else ""


def _text_of(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


@click.command()
@click.argument("name")
@click.option("--description", default="", help="A note kept with the version.")
@connection
def publish(name: str, description: str, endpoint: str, data_dir: Path) -> None:
    """Publish $LATEST as an immutable numbered version (no new version if nothing changed)."""
    body = json.dumps({"Description": description} if description else {}).encode()
    try:
        reply = client(endpoint, data_dir).call("POST", _function_path(name, "/versions"), body,
                                                 {"Content-Type": "application/json"})
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    version = reply.json()
    out.print(f"{name}: version {version['Version']} ({version['FunctionArn']})")


@click.command(name="ls")
@connection
def list_functions(endpoint: str, data_dir: Path) -> None:
    """List the functions of a running Hearth."""
    control = client(endpoint, data_dir)
    functions: list[dict[str, Any]] = []
    marker = ""
    try:
        for _ in range(10_000):  # bounded: one page per 50 functions
            reply = control.call("GET", f"/2015-03-31/functions/?MaxItems=50{'&Marker=' + marker if marker else ''}")
            page = reply.json()
            functions.extend(page["Functions"])
            marker = page.get("NextMarker", "")
            if not marker:
                break
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "CODE", "LAST MODIFIED"):
        table.add_column(column)
    for item in functions:
        table.add_row(item["FunctionName"], item["Runtime"], item["Handler"], f"{item['MemorySize']} MB",
                      f"{item['Timeout']} s", item["CodeSha256"][:12] or "(live folder)", item["LastModified"])
    if not functions:
        out.print("no functions")
    else:
        print_table(table)


def print_table(table: Table) -> None:
    if out.is_terminal:
        out.print(table)
    else:  # a pipe or a file has no width: print whole values rather than cut them to rich's 80-column guess
        Console(file=out.file, highlight=False, soft_wrap=True, width=_UNBOUNDED_WIDTH).print(table)


@click.command()
@click.argument("name")
@click.option("--qualifier", "-q", default=None, help="Delete only this published version.")
@connection
def rm(name: str, qualifier: str | None, endpoint: str, data_dir: Path) -> None:
    """Delete a function (its versions, aliases and routes too), or one version of it."""
    try:
        client(endpoint, data_dir).call("DELETE", _function_path(name, "", qualifier))
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    out.print(f"deleted {name}{':' + qualifier if qualifier else ''}")


@click.command()
@connection
def projects(endpoint: str, data_dir: Path) -> None:
    """List the projects on the gateway: hosts, prefix, header rules, CORS and routes."""
    try:
        listing = client(endpoint, data_dir).call("GET", "/hearth/projects").json()["projects"]
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "HOSTS", "PREFIX", "HEADER RULES", "CORS", "ROUTES"):
        table.add_column(column)
    for project in listing:
        routes = "\n".join(f"{','.join(route['methods'])} {route['path']} → {route['target']}{_auth_note(route)}"
                           for route in project["routes"])
        table.add_row(escape(project["name"] or "(unnamed)"), escape(", ".join(project["hosts"]) or "(any other)"),
                      escape(project["prefix"] or "/"), str(project["header_rules"]),
                      "yes" if project["cors"] else "no", escape(routes) or "(none)")
    if not listing:
        out.print("no projects")
    else:
        print_table(table)


@click.command(name="rm-project")
@click.argument("name")
@connection
def rm_project(name: str, endpoint: str, data_dir: Path) -> None:
    """Take a project off the gateway: its hosts, prefix, header rules, CORS and routes (not its functions)."""
    try:
        reply = client(endpoint, data_dir).call("DELETE", f"/hearth/projects/{quote(name, safe='')}")
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    result = reply.json()
    count = len(result["routes"])
    out.print(f"deleted project {escape(name)} ({count} route{'s' if count != 1 else ''})")
    if result["functions"]:
        out.print(f"kept its functions: {escape(', '.join(result['functions']))} (`hearth rm NAME` deletes one)")


@click.command()
@connection
def schedules(endpoint: str, data_dir: Path) -> None:
    """List the schedules: target, expression, next and last tick, paused or not."""
    try:
        listing = client(endpoint, data_dir).call("GET", "/hearth/schedules").json()["schedules"]
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "TARGET", "EXPRESSION", "NEXT (UTC)", "LAST (UTC)", "STATE"):
        table.add_column(column)
    for item in listing:
        zone = f" {item['timezone']}" if item["timezone"] != "UTC" else ""
        state = ("paused" if item["paused"] else "disabled" if not item["enabled"]
                 else "held (function disabled)" if item.get("function_disabled") else "active")
        table.add_row(escape(item["name"]), escape(item["target"]), escape(item["expression"] + zone),
                      item["next"] or "-", item["last"] or "-", state)
    if not listing:
        out.print("no schedules")
    else:
        print_table(table)


def _pause(name: str, action: str, endpoint: str, data_dir: Path) -> None:
    try:
        reply = client(endpoint, data_dir).call("POST", f"/hearth/schedules/{quote(name, safe='')}/{action}")
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    item = reply.json()
    after = f"; next tick {item['next']} UTC" if item["next"] else ""
    out.print(f"{'paused' if item['paused'] else 'resumed'} schedule {escape(name)}{after}")


@click.command(name="pause-schedule")
@click.argument("name")
@connection
def pause_schedule(name: str, endpoint: str, data_dir: Path) -> None:
    """Stop a schedule from firing (until resume-schedule; a redeploy keeps the pause)."""
    _pause(name, "pause", endpoint, data_dir)


@click.command(name="resume-schedule")
@click.argument("name")
@connection
def resume_schedule(name: str, endpoint: str, data_dir: Path) -> None:
    """Let a paused schedule fire again, from its next tick (ticks passed while paused do not fire)."""
    _pause(name, "resume", endpoint, data_dir)


@click.command()
@connection
def queues(endpoint: str, data_dir: Path) -> None:
    """List the queues: messages visible, in flight and delayed, and where failures go."""
    try:
        listing = client(endpoint, data_dir).call("GET", "/hearth/queues").json()["queues"]
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "VISIBLE", "IN FLIGHT", "DELAYED", "DLQ"):
        table.add_column(column)
    for item in listing:
        dead_letter = (f"{item['dead_letter_queue']} (after {item['max_receive_count']})"
                       if item["dead_letter_queue"] else "-")
        table.add_row(escape(item["name"]), str(item["visible"]), str(item["in_flight"]), str(item["delayed"]),
                      escape(dead_letter))
    if not listing:
        out.print("no queues")
    else:
        print_table(table)


@click.command()
@click.argument("queue")
@click.option("--body", "-b", required=True, help="The message body: text, or @FILE to read it.")
@click.option("--delay", type=click.IntRange(0, 900), default=None,
              help="Seconds before the message becomes visible (default: the queue's).")
@click.option("--attribute", "-a", "attributes", multiple=True, metavar="NAME=VALUE",
              help="A String message attribute; repeat for more.")
@connection
def send(queue: str, body: str, delay: int | None, attributes: tuple[str, ...], endpoint: str,
         data_dir: Path) -> None:
    """Send a message to a queue (SQS's SendMessage) and print its id."""
    if body.startswith("@"):
        try:
            body = Path(body[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {body[1:]}: {exc.strerror}", 2)
    request: dict[str, Any] = {"QueueUrl": f"{endpoint.rstrip('/')}/000000000000/{queue}", "MessageBody": body}
    if delay is not None:
        request["DelaySeconds"] = delay
    for item in attributes:
        name, equals, value = item.partition("=")
        if not equals or not name:
            fail(f"--attribute {item!r}: write NAME=VALUE", 2)
        request.setdefault("MessageAttributes", {})[name] = {"DataType": "String", "StringValue": value}
    try:
        reply = client(endpoint, data_dir).call(
            "POST", "/", json.dumps(request).encode(),
            {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"}, service="sqs")
    except ClientFailure as failure:
        fail(f"{failure.kind}: {failure.message}")
    out.print(reply.json()["MessageId"])


def register(group: click.Group) -> None:
    """Add the remote commands to the ``hearth`` group."""
    for command in (invoke, deploy, publish, list_functions, rm, projects, rm_project, schedules, pause_schedule,
                    resume_schedule, queues, send):
        group.add_command(command)
