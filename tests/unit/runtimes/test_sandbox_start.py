"""How a sandboxed zygote is started: bwrap's command line, and the error when the sandbox cannot be had."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from hearth import errors
from hearth.model import FunctionSpec
from hearth.pool.limits import InstanceLimits, RlimitMemory
from hearth.pool.limits.identity import Identities
from hearth.runtimes.python.runtime import PythonRuntime
from hearth.runtimes.python.sandbox import TASK_ROOT, Sandboxes, bwrap_argv, confine


def argv(code_dir: Path, network: bool) -> list[str]:
    return bwrap_argv("/usr/bin/bwrap", python=sys.executable, import_path=list(sys.path), code_dir=str(code_dir),
                      network=network)


def binds(command: list[str], option: str) -> list[tuple[str, str]]:
    return [(command[i + 1], command[i + 2]) for i, word in enumerate(command) if word == option]


def test_the_package_is_bound_read_only_at_var_task_and_nothing_above_the_interpreter(tmp_path: Path) -> None:
    command = argv(tmp_path, network=True)
    read_only = binds(command, "--ro-bind")
    assert (str(tmp_path), TASK_ROOT) in read_only
    install = os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))
    assert any(source == install for source, _ in read_only) or install.startswith("/usr")
    for source, target in read_only:
        assert source == target or target == TASK_ROOT
        # never a parent of the interpreter's installation (e.g. /root, or /), which would show the host's files
        assert source == "/usr" or not install.startswith(source + os.sep), source
    assert binds(command, "--bind") == []  # nothing of the host is writable (not even the cgroups)
    assert command.index("--remount-ro") > max(i for i, word in enumerate(command) if word.endswith("bind"))


def test_an_import_folder_under_tmp_is_bound_after_the_sandboxs_own_tmp(tmp_path: Path) -> None:
    """A checkout under /tmp: its source is bound into the sandbox's /tmp tmpfs, not hidden under it."""
    source = tmp_path / "checkout" / "src"
    source.mkdir(parents=True)
    command = bwrap_argv("/usr/bin/bwrap", python=sys.executable, import_path=[str(source), *sys.path],
                         code_dir=str(tmp_path), network=False)
    tmpfs = command.index("--tmpfs")
    assert command[tmpfs + 1] == "/tmp"
    assert (str(source), str(source)) in binds(command, "--ro-bind")
    assert command.index(str(source)) > tmpfs


def test_the_network_is_kept_only_when_asked(tmp_path: Path) -> None:
    offline = argv(tmp_path, network=False)
    assert "--unshare-all" in offline and "--share-net" not in offline
    assert "--share-net" in argv(tmp_path, network=True)


def test_the_child_spec_names_the_paths_inside_and_leaves_the_cgroups_to_the_platform() -> None:
    cgroups = ["/sys/fs/cgroup/memory/hearth-1/i3", "/sys/fs/cgroup/pids/hearth-1/i3"]
    child = {"code_dir": "/srv/app", "env": {"LAMBDA_TASK_ROOT": "/srv/app"}, "pycache": "/tmp/x/pycache/g3",
             "cgroups": list(cgroups)}
    assert confine(child) == cgroups  # for the platform to open: the child joins through them (open_joins)
    assert "cgroups" not in child
    assert child["code_dir"] == child["env"]["LAMBDA_TASK_ROOT"] == TASK_ROOT
    assert child["pycache"].endswith("/g3") and child["pycache"].startswith("/tmp/")


@pytest.mark.skipif(os.geteuid() != 0, reason="making homes for other uids needs root")
def test_a_sandboxed_child_gets_no_host_identity_where_other_functions_get_their_uid(tmp_path: Path) -> None:
    """The sandbox runs as its own uid: the host uid, home and descriptor path of the identity policy are not
    prepared for it (only its uid is mapped inside), while a process-isolated function of the same platform's
    gets them."""
    identities = Identities()
    runtime = PythonRuntime(InstanceLimits(RlimitMemory("test"), identity=identities), {})
    try:
        boxed, _ = runtime.child_spec(FunctionSpec(name="boxed", handler="app.main", code_dir=tmp_path,
                                                   isolation="sandbox"), 1, 0)
        plain, _ = runtime.child_spec(FunctionSpec(name="plain", handler="app.main", code_dir=tmp_path), 2, 0)
        assert not {"uid", "gid", "home", "code_via_fd"} & set(boxed)
        assert plain["uid"] == identities.of("plain").uid and "home" in plain
    finally:
        identities.close()


def start(tmp_path: Path, bwrap: str | None) -> errors.HearthError:
    spec = FunctionSpec(name="boxed", handler="app.main", code_dir=tmp_path, isolation="sandbox")
    sandboxes = Sandboxes(sys.executable, {}, list(sys.path), locate=lambda: bwrap)

    async def main() -> None:
        try:
            await sandboxes.zygote(spec)
        finally:
            sandboxes.close()

    with pytest.raises(errors.SandboxUnavailable) as caught:
        asyncio.run(main())
    return caught.value


def test_without_bwrap_the_instance_fails_with_how_to_install_it(tmp_path: Path) -> None:
    failure = start(tmp_path, None)
    assert failure.error_type == "Runtime.SandboxUnavailable"
    assert "apt-get install bubblewrap" in failure.message


def test_a_sandbox_that_does_not_start_is_reported_with_what_bwrap_said(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    failure = start(tmp_path, str(fake))
    assert "the sandbox of boxed:$LATEST did not start" in failure.message
    assert "exit status 1" in failure.message and "No permissions to create new namespace" in failure.message
