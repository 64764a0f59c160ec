"""``hearth doctor``'s checks, each with the facts it looks at controlled: the uid, the limiters, PATH (with a
fake ``bwrap`` where the real one's behaviour is not what is tested), the master key and the data folder."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

from hearth import doctor
from hearth.doctor import Host
from hearth.pool.limits import (
    CgroupCpu,
    CgroupPids,
    CgroupV1Memory,
    InstanceLimits,
    NoCpuLimit,
    RlimitMemory,
    RlimitProcesses,
    SameUser,
)
from hearth.pool.limits.identity import Identities

KEY = base64.b64encode(b"k" * 32).decode()


def fallback_limits() -> InstanceLimits:
    return InstanceLimits(RlimitMemory("no cgroup v1 memory controller is mounted"),
                          NoCpuLimit("no cgroup cpu controller is mounted"),
                          RlimitProcesses("no cgroup pids controller is mounted"))


def cgroup_limits(root: Path) -> InstanceLimits:
    return InstanceLimits(CgroupV1Memory(root / "memory"), CgroupCpu(root / "cpu", 2, 2.0),
                          CgroupPids(root / "pids", 1))


def fake_bwrap(folder: Path, script: str) -> str:
    """A ``bwrap`` on a PATH of its own that runs ``script`` (sh) with bwrap's arguments."""
    folder.mkdir(exist_ok=True)
    path = folder / "bwrap"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(folder)


def test_identity_is_per_function_only_as_root() -> None:
    switched = Identities()
    try:
        root = doctor.identity(Host(euid=0, limits=InstanceLimits(RlimitMemory("x"), identity=switched)))
        assert root.status == "enforced" and "uid of its own" in root.detail
    finally:
        switched.close()
    user = doctor.identity(Host(euid=1000, limits=InstanceLimits(RlimitMemory("x"), identity=SameUser("not root"))))
    assert user.status == "fallback"
    assert "platform's user" in user.detail and "run Hearth as root" in user.detail
    turned_off = doctor.identity(Host(euid=0, limits=InstanceLimits(RlimitMemory("x"),
                                                                    identity=SameUser("--instance-user self"))))
    assert turned_off.status == "fallback" and "--instance-user auto" in turned_off.detail


def test_limits_fall_back_to_rlimits_and_say_how_to_get_cgroups() -> None:
    host = Host(euid=1000, limits=fallback_limits())
    memory = doctor.memory(host)
    assert memory.status == "fallback"
    assert "RLIMIT_AS" in memory.detail and "no cgroup v1 memory controller is mounted" in memory.detail
    assert "run Hearth as root" in memory.detail
    cpu = doctor.cpu(host)
    assert cpu.status == "unavailable" and "no cgroup cpu controller is mounted" in cpu.detail
    assert "Delegate=yes" in cpu.detail
    processes = doctor.processes(host)
    assert processes.status == "fallback" and "RLIMIT_NPROC" in processes.detail and "uid 1000" in processes.detail
    files = doctor.open_files(host)
    assert files.status == "enforced" and "RLIMIT_NOFILE 1024" in files.detail


def test_rlimit_nproc_does_not_contain_root() -> None:
    check = doctor.processes(Host(euid=0, limits=fallback_limits()))
    assert check.status == "unavailable"
    assert "root is exempt" in check.detail and "pids cgroup" in check.detail


def test_cgroup_limiters_are_reported_enforced(tmp_path: Path) -> None:
    host = Host(limits=cgroup_limits(tmp_path))
    memory, cpu, processes = doctor.memory(host), doctor.cpu(host), doctor.processes(host)
    assert (memory.status, cpu.status, processes.status) == ("enforced", "enforced", "enforced")
    assert "cgroup v1 memory controller" in memory.detail and str(tmp_path / "memory") in memory.detail
    assert "cgroup v2 cpu controller" in cpu.detail
    assert "pids.max 1024" in processes.detail


def test_no_bwrap_on_path_is_unavailable_with_the_package_to_install(tmp_path: Path) -> None:
    check = doctor.sandbox(Host(search_path=str(tmp_path)))
    assert check.status == "unavailable"
    assert "not on PATH" in check.detail and "apt-get install bubblewrap" in check.detail


def test_bwrap_that_cannot_unshare_the_network_is_a_fallback(tmp_path: Path) -> None:
    path = fake_bwrap(tmp_path / "bin", """
case "$*" in
  --version) echo "bubblewrap 9.9.9" ;;
  *--share-net*) exit 0 ;;
  *) echo "bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted" >&2; exit 1 ;;
esac
""")
    check = doctor.sandbox(Host(search_path=path))
    assert check.status == "fallback"
    assert "bubblewrap 9.9.9" in check.detail and "Failed RTM_NEWADDR" in check.detail
    assert "not network isolation" in check.detail


def test_bwrap_that_cannot_make_namespaces_is_unavailable(tmp_path: Path) -> None:
    path = fake_bwrap(tmp_path / "bin", """
[ "$1" = --version ] && { echo "bubblewrap 9.9.9"; exit 0; }
echo "bwrap: No permissions to creating new namespace" >&2; exit 1
""")
    check = doctor.sandbox(Host(search_path=path))
    assert check.status == "unavailable"
    assert "No permissions to creating new namespace" in check.detail
    assert "unprivileged_userns_clone" in check.detail


def test_a_hung_trial_run_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "SANDBOX_TIMEOUT_S", 0.3)
    path = fake_bwrap(tmp_path / "bin", '[ "$1" = --version ] && { echo "bubblewrap 9.9.9"; exit 0; }\nexec sleep 30\n')
    check = doctor.sandbox(Host(search_path=path))
    assert check.status == "unavailable" and "did not finish in 0.3 s" in check.detail


def test_the_trial_run_is_the_real_sandbox_command(tmp_path: Path) -> None:
    log = tmp_path / "args"
    path = fake_bwrap(tmp_path / "bin", f'echo "$*" >> {log}\n')
    assert doctor.sandbox(Host(search_path=path)).status == "enforced"
    calls = log.read_text().splitlines()
    assert calls[0] == "--version"
    assert calls[1] == "--ro-bind / / --unshare-all --die-with-parent --dev /dev --proc /proc /bin/true"


def test_master_key_from_the_environment_is_named_never_shown(tmp_path: Path) -> None:
    check = doctor.master_key(Host(data_dir=tmp_path, master_key_env=KEY))
    assert check.status == "enforced" and "HEARTH_MASTER_KEY" in check.detail
    assert KEY not in check.detail and KEY not in repr(Host(master_key_env=KEY))
    bad = "not-a-key-but-secret-looking"
    wrong = doctor.master_key(Host(data_dir=tmp_path, master_key_env=bad))
    assert wrong.status == "unavailable" and "HEARTH_MASTER_KEY is not a master key" in wrong.detail
    assert bad not in wrong.detail


def test_master_key_file_present_missing_or_too_open(tmp_path: Path) -> None:
    missing = doctor.master_key(Host(data_dir=tmp_path))
    assert missing.status == "enforced" and "does not exist yet" in missing.detail and "0600" in missing.detail
    key_file = tmp_path / "master.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    present = doctor.master_key(Host(data_dir=tmp_path))
    assert present.status == "enforced" and present.detail == f"{key_file} (mode 0600)"
    assert KEY not in present.detail
    key_file.chmod(0o644)
    open_key = doctor.master_key(Host(data_dir=tmp_path))
    assert open_key.status == "fallback" and f"chmod 600 {key_file}" in open_key.detail
    key_file.write_text("garbage\n")
    assert doctor.master_key(Host(data_dir=tmp_path)).status == "unavailable"
    assert doctor.master_key(Host(data_dir=tmp_path, in_memory_key=True)).status == "fallback"


def test_data_dir_readable_by_others_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    missing = doctor.data_dir(Host(data_dir=folder))
    assert missing.status == "fallback" and f"mkdir -m 700 {folder}" in missing.detail
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)
    private = doctor.data_dir(Host(data_dir=folder))
    assert private.status == "enforced" and "mode 0700" in private.detail
    folder.chmod(0o750)
    shared = doctor.data_dir(Host(data_dir=folder))
    assert shared.status == "fallback" and "mode 0750" in shared.detail and f"chmod 700 {folder}" in shared.detail
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert doctor.data_dir(Host(data_dir=a_file)).status == "unavailable"


def test_report_detects_the_limits_and_removes_what_the_detection_made(tmp_path: Path) -> None:
    checks = doctor.report(Host(data_dir=tmp_path, search_path=str(tmp_path)))
    assert [check.name for check in checks] == ["identity", "memory", "cpu", "processes", "open_files", "sandbox",
                                                "master_key", "data_dir"]
    assert all(check.status in doctor.STATUSES for check in checks)
    roots = [Path(found) for check in checks for found in re.findall(rf"(/\S+/hearth-{os.getpid()})", check.detail)]
    assert all(not root.exists() for root in roots), roots
    assert doctor.as_json(checks)[0] == {"name": "identity", "status": checks[0].status, "detail": checks[0].detail}


def test_a_crashing_probe_is_a_failure_naming_it(tmp_path: Path) -> None:
    def broken(host: Host) -> doctor.Check:
        raise OSError("boom")

    with pytest.raises(doctor.ProbeFailed, match="the broken probe failed: boom"):
        doctor.report(Host(limits=fallback_limits()), (doctor.identity, broken))


def test_a_given_platforms_limits_are_described_not_detected_again(tmp_path: Path) -> None:
    limits = cgroup_limits(tmp_path)
    instance = tmp_path / "memory" / "i1"  # a running instance's cgroup, which closing the limiter would remove
    instance.mkdir(parents=True)
    checks = doctor.report(Host(limits=limits), (doctor.memory,))
    assert checks[0].detail.startswith(f"cgroup v1 memory controller ({tmp_path / 'memory'})")
    assert instance.is_dir()
