"""Nothing a function starts outlives its instance, and a fork bomb, a descriptor leak or an output flood stays
inside it while the platform keeps serving.

The platform runs with the memory rlimit fallback and no CPU cgroup, so the only cgroup an instance is in is its
pids cgroup: these tests prove that cgroup (and the rlimits), not the memory or cpu ones.
"""

from __future__ import annotations

import base64
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PROJECTS, HearthProcess, pid_alive, poll

from hearth.pool.limits.processes import MAX_OPEN_FILES, MAX_PROCESSES, CgroupPids, detect_process_limiter


@pytest.fixture(scope="module")
def contained() -> Iterator[HearthProcess]:
    limiter = detect_process_limiter()
    limiter.close()
    if not isinstance(limiter, CgroupPids):
        pytest.skip(f"no writable pids cgroup here: {limiter.description}")
    hearth = HearthProcess(PROJECTS / "contained", "--no-watch", "--memory-enforcement", "rlimit",
                           "--no-cpu-follows-memory").start()
    yield hearth
    hearth.stop()


def invoke(hearth: HearthProcess, function: str, event: Any = None, **headers: str) -> httpx.Response:
    return httpx.post(f"{hearth.control}/2015-03-31/functions/{function}/invocations", json=event or {},
                      headers=headers, timeout=60)


def test_a_child_in_its_own_session_dies_with_its_instance(contained: HearthProcess) -> None:
    child = invoke(contained, "escape").json()["child"]
    assert pid_alive(child)
    # idle_timeout_s = 0.5: the instance is reaped soon; its detached child goes with it
    assert poll(lambda: not contained.instances("escape"), 15), contained.instances("escape")
    assert poll(lambda: not pid_alive(child), 10), f"child {child} outlived its instance"


def test_a_fork_bomb_is_stopped_at_the_process_limit_and_the_platform_keeps_serving(
        contained: HearthProcess) -> None:
    answer = invoke(contained, "forkbomb").json()
    assert 0 < answer["forked"] < MAX_PROCESSES, answer["forked"]
    assert answer["error"] == "Resource temporarily unavailable"
    print(f"fork bomb: {answer['forked']} children before fork() failed")
    assert invoke(contained, "hello").json() == {"hello": "world"}  # another function still answers
    contained.stop()  # the platform's stop removes every instance and its cgroup
    left = [pid for pid in answer["pids"] if pid_alive(pid)]
    assert not left, f"{len(left)} children of the fork bomb survived"


STUBBORN = """
[functions.stubborn]
runtime = "http"
command = ["{python}", "stubborn.py", "{{port}}"]
startup_timeout_s = 20

[[routes]]
path = "/stubborn"
function = "stubborn"
"""


def test_a_server_that_ignores_sigterm_and_detaches_a_child_is_stopped_with_everything(tmp_path: Path) -> None:
    limiter = detect_process_limiter()
    limiter.close()
    if not isinstance(limiter, CgroupPids):
        pytest.skip(f"no writable pids cgroup here: {limiter.description}")
    project = tmp_path / "stubborn"
    project.mkdir()
    shutil.copy(PROJECTS / "contained" / "stubborn.py", project)
    (project / "hearth.toml").write_text(STUBBORN.format(python=sys.executable))
    hearth = HearthProcess(project, "--no-watch", "--memory-enforcement", "rlimit", "--no-cpu-follows-memory").start()
    try:
        answer = httpx.get(f"{hearth.gateway}/stubborn", timeout=30).json()
        assert pid_alive(answer["server"]) and pid_alive(answer["child"])
    finally:
        assert hearth.stop() == 0
    assert poll(lambda: not pid_alive(answer["server"]) and not pid_alive(answer["child"]), 10), answer


def test_open_files_are_capped() -> None:
    hearth = HearthProcess(PROJECTS / "contained", "--no-watch").start()
    try:
        answer = invoke(hearth, "files").json()
        assert answer["error"] == "Too many open files"
        assert answer["opened"] < MAX_OPEN_FILES
        assert invoke(hearth, "hello").json() == {"hello": "world"}
    finally:
        hearth.stop()


def test_an_output_flood_is_capped_per_invocation_and_the_drop_is_reported() -> None:
    hearth = HearthProcess(PROJECTS / "contained", "--no-watch").start()
    try:
        for lines in (True, False):
            response = invoke(hearth, "flood", {"mb": 8, "lines": lines}, **{"X-Amz-Log-Type": "Tail"})
            assert response.json() == {"ok": True}
            tail = base64.b64decode(response.headers["x-amz-log-result"]).decode()
            assert re.search(r"\[hearth\] output over 1024 KiB for this invocation: \d+ bytes dropped", tail), tail
            dropped = int(tail.split(" bytes dropped")[0].rsplit(" ", 1)[1])
            assert dropped >= 7 * 1024 * 1024
        assert invoke(hearth, "hello").json() == {"hello": "world"}
    finally:
        hearth.stop()
