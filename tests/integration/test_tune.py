"""CPU follows memory and ``hearth tune`` on a real ``hearth serve``: a CPU-bound function runs several times faster
at 1024 MB than at 256 MB, the tuning leaves the function as it was, and an interrupted run cleans up."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Serve, poll

SPIN = '''
def handler(event, context):
    total = 0
    for i in range(event.get("n", 500_000)):  # fixed work: ~25 ms of one core
        total += i * i
    return {"total": total}
'''
MANIFEST = '''
[functions.spin]
handler = "spin.handler"
memory_mb = 512
timeout_s = 60
'''


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    root = tmp_path_factory.mktemp("tune")
    project = root / "project"
    project.mkdir()
    (project / "spin.py").write_text(SPIN)
    (project / "hearth.toml").write_text(MANIFEST)
    platform = Serve(root / "data")
    try:
        platform.deploy(project)
        lam = platform.client()
        lam.publish_version(FunctionName="spin")
        lam.create_alias(FunctionName="spin", Name="live", FunctionVersion="1")
        yield platform
    finally:
        platform.stop()


def cpu_root(serve: Serve) -> Path | None:
    """The platform's cpu cgroup folder, from its start-up line; None when CPU is not limited here."""
    line = next(line for line in serve.process.stderr if "cpu shares: " in line)
    found = re.search(r"; (/\S+/hearth-\d+)\)$", line)
    return Path(found.group(1)) if found and "cgroup" in line else None


def require_cpu_controller(serve: Serve) -> Path:
    root = cpu_root(serve)
    if root is None:
        line = next(line for line in serve.process.stderr if "cpu shares: " in line)
        pytest.skip(f"the cgroup cpu controller is not writable here ({line.split('cpu shares: ', 1)[1]})")
    return root


def what_users_see(serve: Serve) -> dict[str, Any]:
    lam = serve.client()
    configuration = lam.get_function_configuration(FunctionName="spin")
    return {"versions": [(v["Version"], v["MemorySize"], v["RevisionId"])
                         for v in lam.list_versions_by_function(FunctionName="spin")["Versions"]],
            "aliases": [(a["Name"], a["FunctionVersion"], a["RevisionId"])
                        for a in lam.list_aliases(FunctionName="spin")["Aliases"]],
            "latest": (configuration["MemorySize"], configuration["RevisionId"]),
            "functions": [f["FunctionName"] for f in lam.list_functions()["Functions"]]}


def tuning_instances(serve: Serve) -> list[dict[str, Any]]:
    return [i for i in serve.native("/hearth/instances")["instances"] if i["tuning"]]


def test_an_instance_runs_at_its_memorys_cpu_share_after_init(serve: Serve) -> None:
    root = require_cpu_controller(serve)
    serve.client().invoke(FunctionName="spin", Payload=b'{"n": 10}')
    [instance] = [i for i in serve.instances("spin") if i["version"] == "$LATEST"]
    cgroup = root / f"i{instance['id']}"
    assert str(instance["pid"]) in (cgroup / "cgroup.procs").read_text().split()
    if (cgroup / "cpu.cfs_quota_us").exists():
        assert (cgroup / "cpu.cfs_quota_us").read_text().strip() == str(round(512 / 1769 * 20_000))
        assert (cgroup / "cpu.cfs_period_us").read_text().strip() == "20000"
    else:
        assert (cgroup / "cpu.max").read_text().split() == [str(round(512 / 1769 * 20_000)), "20000"]


def test_tune_finds_a_cpu_bound_function_faster_with_more_memory_and_leaves_it_as_it_was(
        serve: Serve, tmp_path: Path) -> None:
    root = require_cpu_controller(serve)
    before = what_users_see(serve)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"n": 500_000}))
    plot = tmp_path / "tune.html"
    done = serve.cli("tune", "spin", "--memory", "256,1024", "--payload", f"@{event}", "--runs", "5", "--json",
                     "--plot", str(plot))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    small, large = result["sizes"]
    assert (small["memory_mb"], large["memory_mb"]) == (256, 1024)
    for size in (small, large):
        assert (size["invocations"], size["warm"], size["errors"]) == (6, 5, 0)
        assert size["cold"]["init_ms"] is not None and size["cold"]["duration_ms"] is not None
    # 256 MB has 14.5% of a core, 1024 MB 58%: about 4× apart
    assert small["p50_ms"] > 2 * large["p50_ms"], (small, large)
    assert result["recommendation"]["fastest"] == 1024
    assert result["recommendation"]["balanced"] == 1024  # as cheap (same GB-seconds) and 4× faster
    assert "256 MB done (6 invocations)" in done.stderr and "1024 MB done" in done.stderr
    page = plot.read_text()
    assert len(re.findall(r'<circle class="duration"', page)) == 2
    assert what_users_see(serve) == before  # no version, alias or configuration changed or left behind
    assert poll(lambda: not tuning_instances(serve), 10)
    assert poll(lambda: not [path for path in root.glob("i*") if path.is_dir()
                             and not (path / "cgroup.procs").read_text().strip()], 10)


def test_tune_prints_a_table_and_recommendations(serve: Serve) -> None:
    done = serve.cli("tune", "spin:live", "--memory", "128,512", "--payload", '{"n": 1000}', "--runs", "2",
                     "--parallel")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\s*128 MB\s+\d+\.\d+\s+\d+\.\d+\s+\$0\.\d{4}\s+0\s", done.stdout, re.MULTILINE), done.stdout
    assert "prices: $0.0000166667 per GB-second, $0.2 per 1M requests" in done.stdout
    for name in ("cheapest", "fastest", "balanced"):
        assert re.search(rf"^{name}:\s+(128|512) MB", done.stdout, re.MULTILINE), done.stdout
    assert "tuning spin:1 at 128, 512 MB" in done.stderr  # the alias's version
    assert "(sizes in parallel)" in done.stderr


def test_bad_input_is_refused_before_anything_runs(serve: Serve, tmp_path: Path) -> None:
    missing = serve.cli("tune", "nope", "--memory", "128", "--runs", "1")
    assert missing.returncode == 1
    assert "ResourceNotFoundException: Function not found: nope" in missing.stderr
    small = serve.cli("tune", "spin", "--memory", "64,128")
    assert small.returncode == 2 and "64 is not a memory size" in small.stderr
    unreadable = serve.cli("tune", "spin", "--payload", f"@{tmp_path / 'none.json'}")
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr
    svg = serve.cli("tune", "spin", "--plot", str(tmp_path / "out.svg"))
    assert svg.returncode == 2 and ".html file" in svg.stderr
    answer = httpx.post(f"{serve.process.control}/hearth/tune/spin", json={"memory_mb": [128, 20480]},
                        headers={"Authorization": f"Bearer {serve.key['token']}"})
    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == "InvalidParameterValueException"
    assert "from 128 to 10240" in answer.json()["message"]


def test_an_interrupted_run_stops_its_temporary_versions(serve: Serve) -> None:
    before = what_users_see(serve)
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    command = [sys.executable, "-m", "hearth", "tune", "spin", "--memory", "128,256", "--runs", "1000",
               "--payload", '{"n": 200000}', "--endpoint", serve.process.control, "--data-dir", str(serve.data_dir)]
    cli = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert poll(lambda: len(tuning_instances(serve)) == 1, 20)  # the first size is running
        cli.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = cli.communicate(timeout=20)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 130, stderr
    assert "interrupted" in stderr
    assert poll(lambda: not tuning_instances(serve), 10)
    assert what_users_see(serve) == before
