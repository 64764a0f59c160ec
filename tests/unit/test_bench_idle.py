"""bench/_common.idle_wakeups: the benchmarks' headers say how the machine's idle CPUs wait."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _common  # noqa: E402


@pytest.fixture
def sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_common, "CPUIDLE", tmp_path / "current_driver")
    monkeypatch.setattr(_common, "HALT_POLL", tmp_path / "guest_halt_poll_ns")
    return tmp_path


def test_halt_polling_off_is_named(sysfs: Path) -> None:
    (sysfs / "current_driver").write_text("haltpoll\n")
    (sysfs / "guest_halt_poll_ns").write_text("0\n")
    assert "halt polling off (guest_halt_poll_ns = 0)" in _common.idle_wakeups()


def test_halt_polling_on_gives_its_window(sysfs: Path) -> None:
    (sysfs / "current_driver").write_text("haltpoll\n")
    (sysfs / "guest_halt_poll_ns").write_text("200000\n")
    assert _common.idle_wakeups() == "cpuidle driver haltpoll, an idle vCPU polls 200 µs before it halts"


def test_another_driver_or_none(sysfs: Path) -> None:
    assert _common.idle_wakeups() == "unknown (no cpuidle driver is shown)"
    (sysfs / "current_driver").write_text("intel_idle\n")
    assert _common.idle_wakeups() == "cpuidle driver intel_idle"
