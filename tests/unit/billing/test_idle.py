"""Idle detection with a clock the test moves: who is idle, what they hold, auto-disable, keep_alive, enable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from hearth import errors
from hearth.catalog import Catalog
from hearth.config.settings import Settings
from hearth.model import FunctionSpec, InvocationRecord
from hearth.platform import Platform
from hearth.store import SqliteStore
from hearth.store.code import CodeStore

DAY = 86_400


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def platform(tmp_path: Path, clock: Clock) -> Iterator[Platform]:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text("def main(event, context):\n    return 1\n")
    catalog = Catalog(SqliteStore.memory(), CodeStore(tmp_path / "code"), concurrency_limit=100)
    for name, keep_alive in (("busy", False), ("quiet", False), ("kept", True), ("warm", False)):
        catalog.create_function(FunctionSpec(name, "app.main", code, keep_alive=keep_alive))
    catalog.publish_version("warm")
    catalog.set_provisioned("warm", "1", 2)
    made = Platform(catalog, Settings(auto_disable_after_days=30), clock=clock)
    yield made
    asyncio.run(made.close())


def invoked(platform: Platform, function: str, at: float) -> None:
    platform.meter.observe(InvocationRecord("id", function, "$LATEST", "invoke", at, 1.0, 1, 128, 20, None,
                                            "success", None))


def idle_names(platform: Platform, days: float) -> list[str]:
    return [item.function for item in asyncio.run(platform.idle.scan(days))]


def test_functions_idle_for_the_window_are_listed_with_what_they_hold(platform: Platform, clock: Clock) -> None:
    invoked(platform, "busy", clock.now + 20 * DAY)
    clock.now += 29 * DAY
    assert idle_names(platform, 30) == []  # nobody is 30 days old yet
    assert idle_names(platform, 10) == ["kept", "quiet", "warm"]  # busy ran 9 days ago
    assert idle_names(platform, 9) == ["kept", "quiet", "warm", "busy"]  # longest idle first
    clock.now += 2 * DAY
    found = {item.function: item for item in asyncio.run(platform.idle.scan(30))}
    assert sorted(found) == ["kept", "quiet", "warm"]
    warm = found["warm"]
    assert warm.last_invoked is None and warm.provisioned == 2 and warm.code_bytes > 0
    # 2 instances × 128 MB held for 30 days: 648 000 GB-s at $0.0000041667
    assert warm.provisioned_cost_30d == Decimal("2.7000216")
    assert found["quiet"].provisioned == 0 and found["quiet"].code_bytes == 0  # a live folder, nothing packaged


def test_auto_disable_spares_keep_alive_and_enable_restarts_the_count(platform: Platform, clock: Clock) -> None:
    catalog = platform.catalog
    invoked(platform, "busy", clock.now + 20 * DAY)
    clock.now += 29 * DAY
    assert asyncio.run(platform.idle.sweep()) == []
    clock.now += 2 * DAY
    disabled = asyncio.run(platform.idle.sweep())
    assert sorted(entry.function for entry in disabled) == ["quiet", "warm"]  # kept opted out; busy ran
    assert sorted(catalog.disabled) == ["quiet", "warm"]
    assert disabled[0].reason == "no invocations for 30 days (auto_disable_after_days = 30)"
    assert asyncio.run(platform.idle.sweep()) == []  # once
    with pytest.raises(errors.FunctionDisabled) as refused:
        asyncio.run(platform.run(catalog.spec("quiet"), None))  # type: ignore[arg-type]
    assert refused.value.status == 503 and "`hearth enable quiet`" in refused.value.message
    assert platform.idle.enable("quiet") is not None and platform.idle.enable("quiet") is None
    assert [(entry.function, entry.action, entry.reason) for entry in catalog.store.audit("quiet")] == [
        ("quiet", "enabled", "hearth enable"),
        ("quiet", "disabled", "no invocations for 30 days (auto_disable_after_days = 30)")]
    invoked(platform, "busy", clock.now + 19 * DAY)
    clock.now += 29 * DAY  # 29 days after enabling: not yet again
    assert asyncio.run(platform.idle.sweep()) == []
    clock.now += 1 * DAY + 1
    assert [entry.function for entry in asyncio.run(platform.idle.sweep())] == ["quiet"]


def test_without_the_setting_nothing_is_disabled(tmp_path: Path, clock: Clock) -> None:
    catalog = Catalog(SqliteStore.memory(), CodeStore(tmp_path / "code"), concurrency_limit=100)
    catalog.create_function(FunctionSpec("quiet", "app.main", tmp_path))
    platform = Platform(catalog, Settings(), clock=clock)
    try:
        clock.now += 400 * DAY
        assert asyncio.run(platform.idle.sweep()) == [] and not catalog.disabled
        assert idle_names(platform, 30) == ["quiet"]
    finally:
        asyncio.run(platform.close())
