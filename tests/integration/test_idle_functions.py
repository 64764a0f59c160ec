"""Idle functions on the real platform (gateway, control API and CLI on port 0) with a clock the test moves: the
platform runs in this process so that its clock can be injected; the test drives it with `hearth idle`, `hearth
audit`, `hearth schedules`, `hearth enable` and HTTP, from a worker thread."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import poll

from hearth import server
from hearth.catalog import Catalog
from hearth.config.manifest import load_project
from hearth.config.settings import Settings
from hearth.platform import Platform
from hearth.store import SqliteStore
from hearth.store.code import CodeStore
from hearth.telemetry.records import RecordLog

DAY = 86_400
MANIFEST = """\
[functions.busy]
handler = "app.main"

[functions.quiet]
handler = "app.main"
schedule = "rate(1 minute)"

[functions.kept]
handler = "app.main"
keep_alive = true

[[routes]]
path = "/busy"
function = "busy"

[[routes]]
path = "/quiet"
function = "quiet"
"""


class Clock:
    """Wall time plus an offset the test sets (read by the platform's loop, set by the test's thread)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def run_platform(tmp_path: Path, clock: Clock, drive: Callable[[str, str], None]) -> None:
    """Serve a project like `hearth dev` (auto-disable after 30 days, checked every 50 ms) and call
    ``drive(gateway, control)`` in a worker thread once both surfaces listen."""
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / "app.py").write_text("def main(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n")
    (project_dir / "hearth.toml").write_text(MANIFEST)
    catalog = Catalog(SqliteStore.memory(), CodeStore(tmp_path / "code"), concurrency_limit=100)
    catalog.apply(load_project(project_dir), prune=True)
    settings = Settings(port=0, control_port=0, auto_disable_after_days=30, idle_check_interval_s=0.05)
    platform = Platform(catalog, settings, RecordLog(), clock=clock)
    gateway_sock, control_sock = server.bind("127.0.0.1", 0), server.bind("127.0.0.1", 0)
    thresholds = gc.get_threshold()

    async def main() -> None:
        stop = asyncio.Event()
        urls: list[str] = []
        serving = asyncio.create_task(server.run(platform, gateway_sock, control_sock,
                                                 lambda gateway, control: urls.extend((gateway, control)), stop))
        try:
            for _ in range(600):  # the announcement, within 30 s
                if urls or serving.done():
                    break
                await asyncio.sleep(0.05)
            assert urls, "the platform did not start"
            await asyncio.to_thread(drive, *urls)
        finally:
            stop.set()
            await serving

    try:
        asyncio.run(main())
    finally:
        gc.unfreeze()  # server.run tuned the collector for a serving process; this one goes on testing
        gc.set_threshold(*thresholds)


def hearth(control: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hearth", *args, "--endpoint", control], capture_output=True,
                          text=True, timeout=60)


def rows(output: str) -> dict[str, str]:
    """A CLI table's lines by their first word."""
    return {line.split()[0]: line for line in output.splitlines()[1:] if line.strip()}


def test_idle_functions_are_listed_then_disabled_and_enable_restores_them(tmp_path: Path) -> None:
    clock = Clock()

    def drive(gateway: str, control: str) -> None:
        assert httpx.get(f"{gateway}/busy").status_code == 200
        clock.offset = 20 * DAY  # idle for 20 days: listed, not yet disabled
        listed = hearth(control, "idle", "--days", "10")
        assert listed.returncode == 0, listed.stderr
        table = rows(listed.stdout)
        assert set(table) >= {"busy", "quiet", "kept"} and "never" in table["quiet"]
        assert "never" not in table["busy"] and "kept alive" in table["kept"] and "idle" in table["quiet"]
        assert "auto-disable: after 30 days without invocations" in listed.stdout
        assert hearth(control, "audit").stdout.strip() == "the audit log is empty"

        clock.offset = 31 * DAY  # the next check (every 50 ms) disables what nobody called for 30 days
        assert poll(lambda: len(httpx.get(f"{control}/hearth/audit").json()["entries"]) >= 2, 10)
        entries = httpx.get(f"{control}/hearth/audit").json()["entries"]
        assert sorted((entry["function"], entry["action"]) for entry in entries) == [
            ("busy", "disabled"), ("quiet", "disabled")]  # kept opted out
        assert entries[0]["reason"] == "no invocations for 30 days (auto_disable_after_days = 30)"
        refused = httpx.get(f"{gateway}/quiet")
        assert refused.status_code == 503 and refused.json()["errorType"] == "FunctionDisabled"
        assert "hearth enable quiet" in refused.json()["errorMessage"]
        assert "held (function disabled)" in rows(hearth(control, "schedules").stdout)["project.quiet"]
        table = rows(hearth(control, "idle").stdout)
        assert "disabled" in table["quiet"] and "no invocations for 30 days" in table["quiet"]
        assert "kept alive" in table["kept"]
        audit = rows(hearth(control, "audit", "quiet").stdout)
        assert list(audit) and all("quiet" in line and "disabled" in line for line in audit.values())

        enabled = hearth(control, "enable", "quiet")
        assert enabled.returncode == 0 and enabled.stdout.strip() == "enabled quiet", enabled.stderr
        assert httpx.get(f"{gateway}/quiet").status_code == 200
        assert "active" in rows(hearth(control, "schedules").stdout)["project.quiet"]
        assert hearth(control, "enable", "quiet").stdout.strip() == "quiet was not disabled"
        assert httpx.get(f"{gateway}/busy").status_code == 503  # still off until enabled too
        assert [entry["action"] for entry in httpx.get(f"{control}/hearth/audit",
                                                       params={"function": "quiet"}).json()["entries"]] == [
            "enabled", "disabled"]
        assert "quiet" not in rows(hearth(control, "idle", "--days", "1").stdout)  # its idle time starts again
        missing = hearth(control, "enable", "nope")
        assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr

    run_platform(tmp_path, clock, drive)
