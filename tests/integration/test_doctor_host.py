"""``hearth doctor`` on this host, for real: the CLI without a platform, and ``GET /hearth/doctor`` on a running
``hearth serve``. The CI host runs the tests as root, with bubblewrap at /usr/bin/bwrap and a writable cgroup v1
memory controller; these tests assert those facts."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import Serve


def run_doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("HEARTH_MASTER_KEY", "HEARTH_DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "hearth", "doctor", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=120)


def test_doctor_reports_this_hosts_real_facts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    data.chmod(0o700)
    result = run_doctor("--json", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    checks = {check["name"]: check for check in json.loads(result.stdout)}
    assert list(checks) == ["identity", "memory", "cpu", "processes", "open_files", "sandbox", "master_key",
                            "data_dir"]
    assert os.geteuid() == 0
    assert checks["identity"]["status"] == "enforced" and "uid of its own" in checks["identity"]["detail"]
    assert checks["memory"]["status"] == "enforced"
    assert checks["memory"]["detail"].startswith("cgroup v1 memory controller")
    assert checks["open_files"] == {"name": "open_files", "status": "enforced",
                                    "detail": "RLIMIT_NOFILE 1024 per instance (as on Lambda); needs no privilege"}
    assert checks["sandbox"]["status"] == "enforced"
    assert checks["sandbox"]["detail"].startswith("/usr/bin/bwrap (bubblewrap ")
    assert "--unshare-net" in checks["sandbox"]["detail"]
    assert checks["master_key"]["status"] == "enforced" and "does not exist yet" in checks["master_key"]["detail"]
    assert checks["data_dir"] == {"name": "data_dir", "status": "enforced",
                                  "detail": f"{data} (mode 0700): only its owner (uid 0) can read it"}
    assert not (data / "master.key").exists()  # the doctor only looks

    # The text form: one line per capability, the same statuses; still exit 0 with warnings.
    data.chmod(0o755)
    text = run_doctor("--data-dir", str(data))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == len(checks)
    assert lines[-1].split()[:2] == ["data_dir", "fallback"] and f"chmod 700 {data}" in lines[-1]


def test_doctor_names_the_environment_key_without_showing_it(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    result = run_doctor("--json", "--data-dir", str(tmp_path), env={"HEARTH_MASTER_KEY": key,
                                                                     "PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    checks = {check["name"]: check for check in json.loads(result.stdout)}
    assert checks["master_key"] == {"name": "master_key", "status": "enforced",
                                    "detail": "from HEARTH_MASTER_KEY (no key file is written)"}
    assert checks["sandbox"]["status"] == "unavailable"
    assert "apt-get install bubblewrap" in checks["sandbox"]["detail"]
    assert key not in result.stdout + result.stderr


def test_the_control_api_reports_the_running_platforms_limits(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    serve = Serve(tmp_path / "data", env={**os.environ, "HEARTH_MASTER_KEY": key})
    try:
        health = serve.native("/hearth/health")
        answer = httpx.get(f"{serve.process.control}/hearth/doctor", timeout=30,
                           headers={"Authorization": f"Bearer {serve.key['token']}"})
        assert answer.status_code == 200, answer.text
        checks = {check["name"]: check for check in answer.json()["checks"]}
        # The running platform's own limiters are described (its cgroups are still there), not probed again.
        assert checks["memory"]["detail"].startswith(health["memory_enforcement"])
        assert f"hearth-{serve.process.process.pid}" in checks["memory"]["detail"]  # type: ignore[union-attr]
        assert checks["sandbox"]["status"] == "enforced"
        assert checks["master_key"]["detail"] == "from HEARTH_MASTER_KEY (no key file is written)"
        assert checks["data_dir"]["detail"].startswith(str((tmp_path / "data").resolve()))
        assert key not in answer.text
        assert httpx.get(f"{serve.process.control}/hearth/doctor", timeout=30).status_code == 403
        paths = httpx.get(f"{serve.process.control}/hearth/openapi.json", timeout=30).json()["paths"]
        assert "get" in paths["/hearth/doctor"]
    finally:
        serve.stop()
