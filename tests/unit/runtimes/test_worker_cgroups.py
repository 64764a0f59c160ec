"""An instance's child moves itself into its cgroups: ``0`` in a v1 folder's ``tasks`` (the calling thread, which
skips the kernel's global threadgroup lock), its pid in a v2 folder's ``cgroup.procs``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from hearth.pool.limits.cgroups import base_of, own_cgroup, v1_mount
from hearth.runtimes.python import worker


def test_a_v1_folder_gets_the_calling_thread_in_tasks(tmp_path: Path) -> None:
    (tmp_path / "tasks").write_text("")
    (tmp_path / "cgroup.procs").write_text("")
    worker.join_cgroup(str(tmp_path))
    assert (tmp_path / "tasks").read_text() == "0"
    assert (tmp_path / "cgroup.procs").read_text() == ""  # the whole-process file, and its lock, are not used


def test_a_v2_folder_gets_the_pid_in_cgroup_procs(tmp_path: Path) -> None:
    (tmp_path / "cgroup.procs").write_text("")
    worker.join_cgroup(str(tmp_path))
    assert (tmp_path / "cgroup.procs").read_text() == str(os.getpid())


def _writable_pids_base() -> Path | None:
    mount = v1_mount("pids")
    if mount is None or os.geteuid() != 0:
        return None
    base = base_of(mount, own_cgroup("pids"))
    return base if os.access(base, os.W_OK) else None


@pytest.mark.skipif(_writable_pids_base() is None, reason="needs root and a cgroup v1 pids hierarchy")
def test_the_kernel_moves_a_forked_child_that_writes_0_to_tasks() -> None:
    base = _writable_pids_base()
    assert base is not None
    group = base / f"hearth-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                worker.join_cgroup(str(group))
                os.write(write_end, Path("/proc/self/cgroup").read_bytes())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            seen = pipe.read().decode()
        os.waitpid(pid, 0)
        pids_line = next(line for line in seen.splitlines() if ":pids:" in line)
        assert pids_line.endswith("/" + group.name)
    finally:
        group.rmdir()
