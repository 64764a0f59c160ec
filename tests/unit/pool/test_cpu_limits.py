"""CPU follows memory: the quota arithmetic, the cgroup files written (v1 and v2), Init left unthrottled, cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hearth.pool.limits import (
    CgroupCpu,
    InstanceLimits,
    NoCpuLimit,
    RlimitMemory,
    cpu_quota,
    cpu_share,
    detect_cpu_limiter,
)
from hearth.pool.limits.cgroups import base_of, own_cgroup, v1_mount
from hearth.pool.limits.cpu import MIN_QUOTA_US, PERIOD_US


def test_one_core_per_1769_mb_in_a_20_ms_period() -> None:
    assert PERIOD_US == 20_000
    assert cpu_quota(1769, cpus=8) == 20_000  # one full core
    assert cpu_quota(3538, cpus=8) == 40_000  # two
    assert cpu_quota(128, cpus=8) == 1447  # 7.24% of a core: 128 / 1769 × 20 ms
    assert cpu_quota(256, cpus=8) == 2894
    assert cpu_quota(1024, cpus=8) == 11577
    assert cpu_share(128, cpus=8) == pytest.approx(0.0724, abs=1e-4)


def test_the_share_is_capped_at_the_cpus_there_are() -> None:
    assert cpu_quota(10240, cpus=2) == 40_000  # Lambda's 10,240 MB would be ~5.8 cores; this host has 2
    assert cpu_quota(10240, cpus=1.5) == 30_000  # a platform whose own cgroup allows 1.5 cores
    assert cpu_quota(10240, cpus=64) == round(10240 / 1769 * 20_000)
    assert cpu_share(4000, cpus=2) == 2


def test_the_quota_never_goes_below_the_kernels_minimum() -> None:
    assert cpu_quota(128, cpus=8, period_us=10_000) == MIN_QUOTA_US  # 724 µs would be refused


def test_v1_writes_period_and_quota_only_once_init_is_over(tmp_path: Path) -> None:
    limiter = CgroupCpu(tmp_path, 1, cpus=2)
    [path] = limiter.prepare(4, 256)
    assert path == str(tmp_path / "i4")
    assert not (tmp_path / "i4" / "cpu.cfs_quota_us").exists()  # Init runs unthrottled
    limiter.throttle(4, 256)
    assert (tmp_path / "i4" / "cpu.cfs_period_us").read_text() == "20000"
    assert (tmp_path / "i4" / "cpu.cfs_quota_us").read_text() == "2894"


def test_v2_writes_cpu_max(tmp_path: Path) -> None:
    limiter = CgroupCpu(tmp_path, 2, cpus=2)
    limiter.prepare(5, 3538)
    limiter.throttle(5, 3538)
    assert (tmp_path / "i5" / "cpu.max").read_text() == "40000 20000"
    assert "cgroup v2 cpu controller (cpu.max, 20 ms period" in limiter.description


def test_throttling_an_instance_that_is_gone_is_not_an_error(tmp_path: Path) -> None:
    CgroupCpu(tmp_path, 1, cpus=2).throttle(9, 128)  # its cgroup was never made (or already removed)


def test_instance_limits_join_each_cgroup_folder_once(tmp_path: Path) -> None:
    shared = CgroupCpu(tmp_path, 1, cpus=2)

    class CoMounted(RlimitMemory):  # memory and cpu in one hierarchy: the same folder for both
        def prepare(self, instance_id: int, memory_mb: int) -> dict[str, object]:
            return {"cgroups": [str(tmp_path / f"i{instance_id}")]}

    assert InstanceLimits(CoMounted(), shared).prepare(2, 512) == {"cgroups": [str(tmp_path / "i2")]}
    fields = InstanceLimits(RlimitMemory(), shared).prepare(3, 512)
    assert fields == {"rlimit_as_mb": 512, "cgroups": [str(tmp_path / "i3")]}
    assert InstanceLimits(RlimitMemory(), NoCpuLimit("off")).prepare(1, 512) == {"rlimit_as_mb": 512}


def test_turned_off_says_so() -> None:
    limiter = detect_cpu_limiter(enabled=False)
    assert limiter.name == "none"
    assert limiter.description == "not limited: turned off (--no-cpu-follows-memory)"
    assert limiter.prepare(1, 128) == []


def writable_cpu_limiter() -> CgroupCpu:
    limiter = detect_cpu_limiter()
    if not isinstance(limiter, CgroupCpu):
        pytest.skip(f"no writable cgroup cpu controller here: {limiter.description}")
    return limiter


def test_a_real_instance_cgroup_gets_its_quota_and_is_removed_when_it_stops() -> None:
    limiter = writable_cpu_limiter()
    try:
        [path] = limiter.prepare(1, 256)
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
        try:
            (Path(path) / "cgroup.procs").write_text(str(child.pid))
            limiter.throttle(1, 256)
            if limiter.version == 1:
                assert (Path(path) / "cpu.cfs_quota_us").read_text().strip() == "2894"
                assert (Path(path) / "cpu.cfs_period_us").read_text().strip() == "20000"
            else:
                assert (Path(path) / "cpu.max").read_text().split() == ["2894", "20000"]
        finally:
            child.communicate(b"")
        limiter.release(1)
        assert not Path(path).exists()
    finally:
        assert limiter.close()
    assert not limiter.root.exists()


def test_cpu_cgroups_left_by_a_dead_platform_are_swept_at_the_next_start() -> None:
    first = writable_cpu_limiter()
    first.close()
    if first.version != 1:
        pytest.skip("the sweep is exercised on the v1 hierarchy here")
    mount = v1_mount("cpu")
    assert mount is not None
    base = base_of(mount, own_cgroup("cpu"))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    abandoned = base / f"hearth-{child.pid}"
    (abandoned / "i7").mkdir(parents=True)
    assert os.getpid() != child.pid
    second = writable_cpu_limiter()
    try:
        assert not abandoned.exists()
    finally:
        second.close()
        if abandoned.exists():
            (abandoned / "i7").rmdir()
            abandoned.rmdir()
