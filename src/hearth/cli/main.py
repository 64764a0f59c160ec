"""The ``hearth`` command. Flags mirror ``HEARTH_*`` environment variables; this is the only place that reads
the environment."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from hearth import __version__
from hearth.config.manifest import load_project
from hearth.config.settings import DEFAULT_CONCURRENCY_LIMIT, MEMORY_ENFORCEMENT, Settings, instance_base_env
from hearth.errors import HearthError

DEFAULT_ENDPOINT = "http://127.0.0.1:9090"
errors_out = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    errors_out.print(f"[bold red]error[/]: {escape(message)}")
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "HEARTH"})
@click.version_option(__version__, prog_name="hearth")
def cli() -> None:
    """Hearth: your own AWS Lambda + API Gateway, on this machine."""


@cli.command()
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for both HTTP surfaces.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Gateway port (0 picks a free one).")
@click.option("--control-port", default=9090, show_default=True, type=click.IntRange(0, 65535),
              help="Control API port (0 picks a free one).")
@click.option("--memory-enforcement", default="auto", show_default=True, type=click.Choice(MEMORY_ENFORCEMENT),
              help="How memory_mb is enforced: cgroup v1, RLIMIT_AS, or the strongest available.")
@click.option("--concurrency-limit", default=DEFAULT_CONCURRENCY_LIMIT, show_default=True,
              type=click.IntRange(1), help="Instances a function may run at once unless it sets concurrency.")
@click.option("--quiet", is_flag=True, help="Do not print invocation logs.")
@click.option("--no-watch", is_flag=True, help="Do not reload on file changes.")
@click.option("--hide-errors", is_flag=True,
              help="Answer function errors as a production server does: no details in the response body.")
def dev(project_dir: Path, host: str, port: int, control_port: int, memory_enforcement: str,
        concurrency_limit: int, quiet: bool, no_watch: bool, hide_errors: bool) -> None:
    """Serve a project folder with live reload: gateway and control API."""
    import tempfile

    from hearth import devloop, server
    from hearth.catalog import Catalog
    from hearth.platform import Platform
    from hearth.store.code import CodeStore
    from hearth.store.sqlite import SqliteStore
    from hearth.telemetry.console import ConsoleLog
    from hearth.telemetry.records import RecordLog

    scratch = tempfile.TemporaryDirectory(prefix="hearth-dev-")  # published versions' snapshots live here
    try:
        project = load_project(project_dir)
        settings = Settings(host=host, port=port, control_port=control_port, expose_errors=not hide_errors,
                            concurrency_limit=concurrency_limit, memory_enforcement=memory_enforcement,
                            base_env=instance_base_env(os.environ))
        catalog = Catalog(SqliteStore.memory(), CodeStore(Path(scratch.name) / "code"),
                          concurrency_limit=concurrency_limit)
        catalog.apply(project, prune=True)
    except HearthError as error:
        fail(error.message)
    try:
        gateway_sock = server.bind(host, port)
        control_sock = server.bind(host, control_port)
    except OSError as exc:
        fail(f"cannot listen on {host}: {exc.strerror}; choose another --port/--control-port (0 picks a free one)")
    records = RecordLog(sinks=[ConsoleLog(sys.stdout)] if not quiet else [])
    platform = Platform(catalog, settings, records)

    def note(message: str) -> None:
        errors_out.print(f"[dim]hearth[/]: {escape(message)}")

    def announce(gateway_url: str, control_url: str) -> None:
        click.echo(f"gateway: {gateway_url}")
        click.echo(f"control: {control_url}")
        sys.stdout.flush()
        assert platform.limiter is not None
        note(f"memory limits: {platform.limiter.description}")
        for route in project.routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "ANY"
            note(f"route {methods} {route.path} → {route.target}")

    async def main() -> None:
        stop = asyncio.Event()
        watcher = None if no_watch else asyncio.create_task(devloop.watch(project.root, platform, note, stop))
        try:
            await server.run(platform, gateway_sock, control_sock, announce, stop)
        finally:
            stop.set()
            if watcher is not None:
                await asyncio.gather(watcher, return_exceptions=True)

    with scratch:
        _run(main())


@cli.command()
@click.argument("name")
@click.option("--data", "-d", default="{}", show_default=True, help="The event: JSON text, or @FILE to read it.")
@click.option("--endpoint", default=DEFAULT_ENDPOINT, show_default=True, help="Control API of a running Hearth.")
@click.option("--logs", is_flag=True, help="Also print the invocation's log tail to stderr.")
def invoke(name: str, data: str, endpoint: str, logs: bool) -> None:
    """Invoke a function and print its result (exit status 1 on a function error)."""
    if data.startswith("@"):
        try:
            data = Path(data[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {data[1:]}: {exc.strerror}")
    try:
        json.loads(data)
    except json.JSONDecodeError as exc:
        fail(f"--data is not valid JSON: {exc}")
    url = f"{endpoint.rstrip('/')}/2015-03-31/functions/{name}/invocations"
    request = urllib.request.Request(url, data=data.encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"X-Amz-Log-Type": "Tail"} if logs else {})})
    try:
        with urllib.request.urlopen(request, timeout=960) as response:
            body = response.read()
            function_error = response.headers.get("X-Amz-Function-Error")
            tail = response.headers.get("X-Amz-Log-Result")
    except urllib.error.HTTPError as exc:
        detail = exc.read()
        try:
            message = json.loads(detail).get("message", detail.decode())
        except ValueError:
            message = detail.decode(errors="replace")
        fail(f"{exc.headers.get('x-amzn-ErrorType', exc.code)}: {message}", 1)
    except urllib.error.URLError as exc:
        fail(f"cannot reach Hearth at {endpoint} ({exc.reason}); is `hearth dev` running? use --endpoint", 1)
    if logs and tail:
        import base64

        sys.stderr.write(base64.b64decode(tail).decode(errors="replace"))
    sys.stdout.write(body.decode(errors="replace") + "\n")
    if function_error:
        sys.exit(1)


def _run(coroutine: object) -> None:
    try:
        import uvloop

        uvloop.run(coroutine)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coroutine)  # type: ignore[arg-type]


def main() -> None:
    cli()
