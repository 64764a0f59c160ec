"""Memory limiters: a dead platform's cgroups are swept when the next one starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hearth.pool.limits import CgroupV1Memory, _memory_mount, _own_memory_cgroup, detect_memory_limiter


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_cgroups_left_by_a_dead_platform_are_removed_at_the_next_start() -> None:
    limiter = detect_memory_limiter("auto")
    if not isinstance(limiter, CgroupV1Memory):
        pytest.skip(f"no writable cgroup v1 memory controller here: {limiter.description}")
    limiter.close()
    mount = _memory_mount()
    assert mount is not None
    own = _own_memory_cgroup().lstrip("/")
    base = mount / own if own and (mount / own).is_dir() else mount
    abandoned = base / f"hearth-{dead_pid()}"
    (abandoned / "i7").mkdir(parents=True)  # as a SIGKILLed platform leaves them: empty instance cgroups
    alive = base / "hearth-1"  # pid 1 is alive: never touched
    alive_existed = alive.exists()
    second = detect_memory_limiter("auto")
    try:
        assert not abandoned.exists()
        assert alive.exists() == alive_existed
    finally:
        second.close()
        if abandoned.exists():
            (abandoned / "i7").rmdir()
            abandoned.rmdir()


def test_the_rlimit_fallback_is_chosen_on_request() -> None:
    limiter = detect_memory_limiter("rlimit")
    assert limiter.name == "rlimit"
    assert limiter.prepare(1, 256) == {"rlimit_as_mb": 256}
