"""The ``hearth`` command. Flags mirror ``HEARTH_*`` environment variables; this is the only place that reads
the environment."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape

from hearth import __version__
from hearth.billing.prices import GRANULARITIES_MS, Billing, PriceTable, decimal_text, parse_price
from hearth.cli import remote
from hearth.cli.client import DEFAULT_DATA_DIR
from hearth.cli.cost import cost
from hearth.cli.idle import audit, disable, enable, idle
from hearth.cli.logs import logs
from hearth.cli.secrets import secret
from hearth.cli.stats import stats
from hearth.cli.tune import tune
from hearth.config.manifest import load_project
from hearth.config.settings import (
    DEFAULT_CONCURRENCY_LIMIT,
    DEFAULT_LOG_DRAIN_BUFFER,
    DEFAULT_METER_FLUSH_S,
    MEMORY_ENFORCEMENT,
    Settings,
    instance_base_env,
    parse_duration,
    parse_networks,
    parse_size,
)
from hearth.errors import HearthError

if TYPE_CHECKING:
    from hearth.platform import Platform

errors_out = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    errors_out.print(f"[bold red]error[/]: {escape(message)}")
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "HEARTH"})
@click.version_option(__version__, prog_name="hearth")
def cli() -> None:
    """Hearth: your own AWS Lambda + API Gateway, on this machine."""


def _platform_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options ``hearth dev`` and ``hearth serve`` share: where to listen, limits, log output."""
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Address for both HTTP surfaces."),
        click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
                     help="Gateway port (0 picks a free one)."),
        click.option("--control-port", default=9090, show_default=True, type=click.IntRange(0, 65535),
                     help="Control API port (0 picks a free one)."),
        click.option("--memory-enforcement", default="auto", show_default=True,
                     type=click.Choice(MEMORY_ENFORCEMENT),
                     help="How memory_mb is enforced: cgroup v1, RLIMIT_AS, or the strongest available."),
        click.option("--cpu-follows-memory/--no-cpu-follows-memory", default=True, show_default=True,
                     envvar="HEARTH_CPU_FOLLOWS_MEMORY",
                     help="Give each instance memory_mb/1769 of a core, as Lambda does (cgroup cpu controller)."),
        click.option("--instance-user", default=None, envvar="HEARTH_INSTANCE_USER",
                     metavar="auto|self|UID[:GID]|USER",
                     help="Who instances run as. auto: as root, a uid of each function's own, which cannot read "
                          "the platform's files or other functions' (the default of `hearth serve`); self: the "
                          "platform's own user (the default of `hearth dev`); or one given user."),
        click.option("--concurrency-limit", default=DEFAULT_CONCURRENCY_LIMIT, show_default=True,
                     type=click.IntRange(1), help="Invocations all functions together may run at once."),
        click.option("--quiet", is_flag=True, help="Do not print invocation logs."),
        click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="CIDR",
                     help="An address or network whose X-Forwarded-For/-Proto/-Host the gateway believes (a load "
                          "balancer or TLS terminator in front of it); repeat for several."),
        click.option("--https-redirect", is_flag=True,
                     help="Answer 301 with the https URL when a trusted proxy says the client used plain http."),
        click.option("--async-retry-delay", "async_retry_delay_s", default=60.0, show_default=True,
                     type=click.FloatRange(0.0, 3600.0), metavar="SECONDS",
                     help="Wait before retrying a failed asynchronous invocation (doubled for the second retry; "
                          "Lambda waits 60 s)."),
        click.option("--log-retention", default="7d", show_default=True, metavar="DURATION",
                     envvar="HEARTH_LOG_RETENTION",
                     help="Delete stored logs older than this (e.g. 7d, 12h); read them with `hearth logs`."),
        click.option("--log-max-size", default="1GiB", show_default=True, metavar="SIZE",
                     envvar="HEARTH_LOG_MAX_SIZE",
                     help="Delete the oldest stored logs while they take more than this (e.g. 1GiB, 500MB)."),
        click.option("--log-drain", "log_drains", multiple=True, metavar="URL", envvar="HEARTH_LOG_DRAIN",
                     help="Send every log line on: batches of NDJSON POSTed to an http(s) URL, or JSON lines in "
                          "rotating files in a file:///folder; or one span per invocation to an OTLP/HTTP "
                          "collector at otlp+http(s)://host:4318. Repeat for several."),
        click.option("--log-drain-secret", default=None, metavar="SECRET", envvar="HEARTH_LOG_DRAIN_SECRET",
                     help="Sign each HTTP drain batch: x-hearth-signature is the hex HMAC-SHA256 of the body."),
        click.option("--log-drain-buffer", default=DEFAULT_LOG_DRAIN_BUFFER, show_default=True,
                     type=click.IntRange(1), metavar="LINES",
                     help="Lines each drain keeps while it cannot deliver; past this the oldest are dropped."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _billing_options(command: Callable[..., None]) -> Callable[..., None]:
    """How usage is billed and priced, and idle functions switched off (``hearth dev`` and ``hearth serve``); they
    reach the command as keyword arguments that ``_billing_settings`` turns into ``Settings`` fields."""
    prices = PriceTable()
    options = [
        click.option("--billing-granularity", default=str(GRANULARITIES_MS[0]), show_default=True,
                     type=click.Choice([str(ms) for ms in GRANULARITIES_MS]), metavar="MS",
                     envvar="HEARTH_BILLING_GRANULARITY",
                     help="Round each invocation's billed duration up to 1 ms (Lambda's) or 100 ms."),
        click.option("--bill-init/--no-bill-init", default=True, show_default=True, envvar="HEARTH_BILL_INIT",
                     help="Bill a cold start's Init duration with its invocation (Lambda does since August 2025)."),
        click.option("--price-gb-second", default=decimal_text(prices.gb_second), show_default=True, metavar="USD",
                     envvar="HEARTH_PRICE_GB_SECOND", help="Price of a GB-second of billed duration."),
        click.option("--price-per-million-requests", default=decimal_text(prices.per_million_requests),
                     show_default=True, metavar="USD", envvar="HEARTH_PRICE_PER_MILLION_REQUESTS",
                     help="Price of a million requests."),
        click.option("--price-provisioned-gb-second", default=decimal_text(prices.provisioned_gb_second),
                     show_default=True, metavar="USD", envvar="HEARTH_PRICE_PROVISIONED_GB_SECOND",
                     help="Price of a GB-second of provisioned concurrency held."),
        click.option("--meter-flush-interval", "meter_flush_s", default=DEFAULT_METER_FLUSH_S, show_default=True,
                     type=click.FloatRange(0.05, 3600.0), metavar="SECONDS", envvar="HEARTH_METER_FLUSH_INTERVAL",
                     help="Write metered usage to disk this often (a crash loses at most this much of it)."),
        click.option("--auto-disable-after-days", default=None, type=click.IntRange(1), metavar="DAYS",
                     envvar="HEARTH_AUTO_DISABLE_AFTER_DAYS",
                     help="Disable functions that had no invocation for this many days (off by default; "
                          "`keep_alive = true` in a function's table opts it out, `hearth enable NAME` undoes it)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _billing_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The ``Settings`` fields of ``_billing_options``' values; raises ``ConfigError``."""
    return {
        "billing": Billing(int(options["billing_granularity"]), options["bill_init"]),
        "prices": PriceTable(**{key: parse_price(options[f"price_{key}"], f"--price-{key.replace('_', '-')}")
                                for key in ("gb_second", "per_million_requests", "provisioned_gb_second")}),
        "meter_flush_s": options["meter_flush_s"],
        "auto_disable_after_days": options["auto_disable_after_days"],
    }


@cli.command()
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@_platform_options
@_billing_options
@click.option("--no-watch", is_flag=True, help="Do not reload on file changes.")
@click.option("--hide-errors", is_flag=True,
              help="Answer function errors as a production server does: no details in the response body.")
@click.option("--data-dir", default=str(DEFAULT_DATA_DIR), show_default=True, envvar="HEARTH_DATA_DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Where the admin key is kept when --host is not loopback (authentication is then on); when "
                   "given, logs are kept in its logs/ folder (else in a scratch folder removed at exit).")
def dev(project_dir: Path, host: str, port: int, control_port: int, memory_enforcement: str,
        cpu_follows_memory: bool, instance_user: str | None, concurrency_limit: int, quiet: bool,
        trusted_proxies: tuple[str, ...],
        https_redirect: bool, async_retry_delay_s: float, log_retention: str, log_max_size: str,
        log_drains: tuple[str, ...], log_drain_secret: str | None, log_drain_buffer: int, no_watch: bool,
        hide_errors: bool, data_dir: Path, **billing: Any) -> None:
    """Serve a project folder with live reload: gateway and control API."""
    import tempfile

    from hearth import devloop, server
    from hearth.billing.store import MeterStore
    from hearth.catalog import Catalog
    from hearth.platform import Platform
    from hearth.store.code import CodeStore
    from hearth.store.sqlite import SqliteStore
    from hearth.telemetry.console import ConsoleLog
    from hearth.telemetry.records import RecordLog

    scratch = tempfile.TemporaryDirectory(prefix="hearth-dev-")  # published versions' snapshots live here
    # Logs persist only where the user named a data folder; by default they live (and die) with the dev server.
    data_dir_given = click.get_current_context().get_parameter_source("data_dir") != ParameterSource.DEFAULT
    try:
        project = load_project(project_dir)
        settings = Settings(host=host, port=port, control_port=control_port, expose_errors=not hide_errors,
                            concurrency_limit=concurrency_limit, memory_enforcement=memory_enforcement,
                            cpu_follows_memory=cpu_follows_memory, instance_user=instance_user or "self",
                            base_env=instance_base_env(os.environ), route_secrets=dict(os.environ),
                            trusted_proxies=parse_networks(trusted_proxies), https_redirect=https_redirect,
                            async_retry_delay_s=async_retry_delay_s,
                            log_dir=data_dir.expanduser() / "logs" if data_dir_given else None,
                            log_retention_s=parse_duration(log_retention), log_max_bytes=parse_size(log_max_size),
                            log_drains=log_drains, log_drain_secret=log_drain_secret,
                            log_drain_buffer=log_drain_buffer, **_billing_settings(billing))
        catalog = Catalog(SqliteStore.memory(), CodeStore(Path(scratch.name) / "code"),
                          concurrency_limit=concurrency_limit)
        changes = catalog.apply(project, prune=True)
        # Usage is kept where logs are: in the data folder when one was named, else with the dev server.
        meter = MeterStore(data_dir.expanduser() / "meter.db") if data_dir_given else None
    except HearthError as error:
        fail(error.message)
    lookup = None
    if not is_loopback(host):  # only a loopback-only dev server may run without authentication
        from hearth.api import auth

        try:
            credentials, _ = auth.load_or_create_credentials(data_dir.expanduser())
        except HearthError as error:
            fail(error.message)
        lookup = auth.keyring([credentials])
    gateway_sock, control_sock = _bind(host, port, control_port)
    records = RecordLog(sinks=[ConsoleLog(sys.stdout)] if not quiet else [])
    platform = Platform(catalog, settings, records, meter=meter)

    def announce(gateway_url: str, control_url: str) -> None:
        click.echo(f"gateway: {gateway_url}")
        click.echo(f"control: {control_url}")
        sys.stdout.flush()
        _note_limits(platform)
        for route in project.routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "ANY"
            auth = f" (auth: {route.auth.kind})" if route.auth is not None else ""
            note(f"route {methods} {route.path} → {route.target}{' (async)' if route.asynchronous else ''}{auth}")
        for schedule in catalog.schedules.values():
            zone = f" {schedule.timezone}" if schedule.timezone != "UTC" else ""
            note(f"schedule {schedule.name}: {schedule.expression}{zone} → {schedule.target}")
        for mapping in catalog.event_source_mappings.values():
            note(f"queue {mapping.queue} → {mapping.function} (batches of {mapping.batch_size})")
        for change in changes:
            if change.action == "skipped":
                note(f"{change.subject} skipped: {change.detail}")
        if lookup is None:
            note("control API: authentication is off (loopback only)")
        else:
            note(f"control API: authentication is on (not loopback); keys in {data_dir / 'credentials.json'}")

    async def main() -> None:
        stop = asyncio.Event()
        watcher = None if no_watch else asyncio.create_task(devloop.watch(project.root, platform, note, stop))
        try:
            await server.run(platform, gateway_sock, control_sock, announce, stop, lookup=lookup)
        finally:
            stop.set()
            if watcher is not None:
                await asyncio.gather(watcher, return_exceptions=True)

    with scratch:
        _run(main())


@cli.command()
@click.option("--data-dir", default=str(DEFAULT_DATA_DIR), show_default=True, envvar="HEARTH_DATA_DIR",
              type=click.Path(file_okay=False, path_type=Path), help="Where state, code and keys are kept.")
@_platform_options
@_billing_options
@click.option("--show-errors", is_flag=True,
              help="Put function error details in gateway responses (as hearth dev does); off in production.")
def serve(data_dir: Path, host: str, port: int, control_port: int, memory_enforcement: str,
          cpu_follows_memory: bool, instance_user: str | None, concurrency_limit: int, quiet: bool,
        trusted_proxies: tuple[str, ...],
          https_redirect: bool, async_retry_delay_s: float, log_retention: str, log_max_size: str,
          log_drains: tuple[str, ...], log_drain_secret: str | None, log_drain_buffer: int,
          show_errors: bool, **billing: Any) -> None:
    """Run the platform with persistent state: deploy to it with `hearth deploy` or the Lambda API."""
    from hearth import server
    from hearth.api import auth
    from hearth.billing.store import MeterStore
    from hearth.catalog import Catalog
    from hearth.platform import Platform
    from hearth.secrets import MasterKey, Vault
    from hearth.store.code import CodeStore
    from hearth.store.sqlite import SqliteStore
    from hearth.store.sqlite_events import SqliteEvents
    from hearth.telemetry.console import ConsoleLog
    from hearth.telemetry.records import RecordLog

    data_dir = data_dir.expanduser().resolve()
    try:
        settings = Settings(host=host, port=port, control_port=control_port, expose_errors=show_errors,
                            concurrency_limit=concurrency_limit, memory_enforcement=memory_enforcement,
                            cpu_follows_memory=cpu_follows_memory, instance_user=instance_user or "auto",
                            base_env=instance_base_env(os.environ), route_secrets=dict(os.environ),
                            trusted_proxies=parse_networks(trusted_proxies), https_redirect=https_redirect,
                            async_retry_delay_s=async_retry_delay_s, data_dir=data_dir, log_dir=data_dir / "logs",
                            log_retention_s=parse_duration(log_retention), log_max_bytes=parse_size(log_max_size),
                            log_drains=log_drains, log_drain_secret=log_drain_secret,
                            log_drain_buffer=log_drain_buffer, **_billing_settings(billing))
        credentials, created = auth.load_or_create_credentials(data_dir)
        data_dir.chmod(0o700)  # its keys, state and code are the platform's alone; instances run as other users
        code = CodeStore(data_dir / "code")
        catalog = Catalog(SqliteStore(data_dir / "state.db"), code, concurrency_limit=concurrency_limit)
        # Secrets are sealed with HEARTH_MASTER_KEY when set (no key file is written), else with master.key.
        master = os.environ.get("HEARTH_MASTER_KEY")
        vault = Vault(catalog.store, MasterKey.from_text(master) if master else MasterKey.load_or_create(data_dir))
        vault.verify()
        events = SqliteEvents(data_dir / "events.db")
        meter = MeterStore(data_dir / "meter.db")
        removed = code.remove_unreferenced(catalog.referenced_code())
    except HearthError as error:
        fail(error.message)
    except OSError as exc:
        fail(f"cannot use the data folder {data_dir}: {exc.strerror}; choose another with --data-dir")
    gateway_sock, control_sock = _bind(host, port, control_port)
    records = RecordLog(sinks=[ConsoleLog(sys.stdout)] if not quiet else [])
    platform = Platform(catalog, settings, records, events, meter, vault=vault)

    def announce(gateway_url: str, control_url: str) -> None:
        click.echo(f"gateway: {gateway_url}")
        click.echo(f"control: {control_url}")
        sys.stdout.flush()
        note(f"data: {data_dir} ({len(catalog.functions)} functions)")
        if removed:
            note(f"removed {removed} code packages nothing uses any more")
        if created:
            note(f"created the admin key {credentials.access_key_id} in {data_dir / auth.CREDENTIALS_FILE} "
                 "(mode 0600); it is printed this once. Use it with the AWS CLI or boto3:")
            errors_out.print(f"  export AWS_ACCESS_KEY_ID={credentials.access_key_id} "
                             f"AWS_SECRET_ACCESS_KEY={credentials.secret_access_key} AWS_DEFAULT_REGION=us-east-1",
                             highlight=False, markup=False)
            errors_out.print(f"  aws lambda list-functions --endpoint-url {control_url}", highlight=False,
                             markup=False)
            errors_out.print(f"  or: curl -H 'Authorization: Bearer {credentials.token}' {control_url}/...",
                             highlight=False, markup=False)
        _note_limits(platform)

    lookup = auth.keyring([credentials])
    _run(server.run(platform, gateway_sock, control_sock, announce, lookup=lookup))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as a JSON list.")
@click.option("--data-dir", default=str(DEFAULT_DATA_DIR), show_default=True, envvar="HEARTH_DATA_DIR",
              type=click.Path(path_type=Path), help="The data folder `hearth serve` would use.")
def doctor(as_json: bool, data_dir: Path) -> None:
    """What this host can enforce for function instances, and what it falls back to (no platform needed)."""
    import json

    from hearth import doctor as checks

    host = checks.Host(data_dir=data_dir.expanduser().absolute(), master_key_env=os.environ.get("HEARTH_MASTER_KEY"),
                       search_path=os.environ.get("PATH", os.defpath))
    try:
        found = checks.report(host)
    except checks.ProbeFailed as exc:
        fail(str(exc), 1)
    if as_json:
        click.echo(json.dumps(checks.as_json(found), indent=2))
        return
    colours = {"enforced": "green", "fallback": "yellow", "unavailable": "red"}
    width = max(len(check.name) for check in found)
    out = Console(highlight=False, soft_wrap=True)  # one line per capability, however long
    for check in found:
        padding = " " * (len("unavailable") - len(check.status))
        out.print(f"{check.name:<{width}}  [{colours[check.status]}]{check.status}[/]{padding}  "
                  f"{escape(check.detail)}")


def _bind(host: str, port: int, control_port: int) -> tuple[socket.socket, socket.socket]:
    from hearth import server

    try:
        return server.bind(host, port), server.bind(host, control_port)
    except OSError as exc:
        fail(f"cannot listen on {host}: {exc.strerror}; choose another --port/--control-port (0 picks a free one)")


def _note_limits(platform: Platform) -> None:
    """Say how memory limits, CPU shares and process limits are enforced on this host (and why not, where not)."""
    assert platform.limiter is not None
    note(f"memory limits: {platform.limiter.memory.description}")
    note(f"cpu shares: {platform.limiter.cpu.description}")
    note(f"process limits: {platform.limiter.processes.description}")
    note(f"identity: {platform.limiter.identity.description}")


def note(message: str) -> None:
    errors_out.print(f"[dim]hearth[/]: {escape(message)}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _run(coroutine: object) -> None:
    try:
        import uvloop

        uvloop.run(coroutine)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coroutine)  # type: ignore[arg-type]


remote.register(cli)
cli.add_command(logs)
cli.add_command(stats)
for command in (cost, idle, audit, disable, enable, tune, secret):
    cli.add_command(command)


def main() -> None:
    cli()
