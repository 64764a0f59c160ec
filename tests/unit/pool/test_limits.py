"""Memory limiters: a cgroup per instance, removed when it stops; a dead platform's are swept at the next start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hearth.pool.limits import CgroupV1Memory, detect_memory_limiter
from hearth.pool.limits.cgroups import base_of, own_cgroup, v1_mount


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
    mount = v1_mount("memory")
    assert mount is not None
    base = base_of(mount, own_cgroup("memory"))
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


def test_a_memory_cgroup_is_created_per_instance_and_removed_when_it_stops() -> None:
    limiter = detect_memory_limiter("auto")
    if not isinstance(limiter, CgroupV1Memory):
        pytest.skip(f"no writable cgroup v1 memory controller here: {limiter.description}")
    try:
        fields = limiter.prepare(3, 256)
        [path] = fields["cgroups"]
        assert (Path(path) / "memory.limit_in_bytes").read_text().strip() == str(256 * 1024 * 1024)
        limiter.release(3)
        assert not Path(path).exists()
    finally:
        assert limiter.close()
    assert not limiter.root.exists()
