"""Process limiters: a pids cgroup per instance (else rlimits), an open-file rlimit, and their fields in a spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hearth.pool.limits import InstanceLimits, RlimitMemory
from hearth.pool.limits.processes import CgroupPids, RlimitProcesses, detect_process_limiter


def test_a_pids_cgroup_is_created_per_instance_and_kills_everything_in_it_when_released() -> None:
    limiter = detect_process_limiter(processes=64)
    if not isinstance(limiter, CgroupPids):
        pytest.skip(f"no writable pids cgroup here: {limiter.description}")
    try:
        fields = limiter.prepare(5)
        [path] = fields["cgroups"]
        assert fields["rlimit_nofile"] == 1024
        assert (Path(path) / "pids.max").read_text().strip() == "64"
        # a detached process in the cgroup (as a setsid child of an instance would be) dies on release
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        try:
            (Path(path) / "cgroup.procs").write_text(str(child.pid))
            limiter.release(5)
            assert child.wait(10) == -9
        finally:
            child.kill()
            child.wait()
        assert not Path(path).exists() or limiter.close()
    finally:
        assert limiter.close()
    assert not limiter.root.exists()


def test_the_rlimit_fallback_caps_processes_and_files() -> None:
    limiter = RlimitProcesses("no pids controller")
    assert limiter.prepare(1) == {"rlimit_nproc": 1024, "rlimit_nofile": 1024}
    assert "root is exempt" in limiter.description


def test_instance_limits_merge_the_process_fields(tmp_path: Path) -> None:
    class Pids(CgroupPids):
        pass

    processes = Pids(tmp_path / "pids", 1, processes=10, open_files=20)
    (tmp_path / "pids").mkdir()
    fields = InstanceLimits(RlimitMemory(), processes=processes).prepare(2, 256)
    assert fields == {"rlimit_as_mb": 256, "cgroups": [str(tmp_path / "pids" / "i2")], "rlimit_nofile": 20}
    assert (tmp_path / "pids" / "i2" / "pids.max").read_text() == "10"
    assert InstanceLimits(RlimitMemory()).prepare(3, 256) == {"rlimit_as_mb": 256}
