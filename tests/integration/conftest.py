"""Start the real platform (``hearth dev`` or ``hearth serve``) on port 0 and wait for its readiness lines — never a
sleep."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import httpx
import pytest

PROJECTS = Path(__file__).parent / "projects"
START_TIMEOUT_S = 30.0


class HearthProcess:
    """A ``hearth dev PROJECT`` (or ``hearth serve`` when ``project`` is None) child process, its URLs and
    everything it printed."""

    def __init__(self, project: Path | None, *args: str, env: dict[str, str] | None = None) -> None:
        self.project = project
        self.args = args
        self.env = env
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self.gateway = ""
        self.control = ""
        self.process: subprocess.Popen[str] | None = None
        self._pumps: list[threading.Thread] = []

    def start(self) -> HearthProcess:
        head = ["dev", str(self.project)] if self.project is not None else ["serve"]
        if self.project is None and "--instance-user" not in self.args:
            # As root, `hearth serve` runs each function under a uid of its own, which cannot write the test's
            # folders where most tests' functions leave what they saw; test_isolation runs it that way.
            head.extend(["--instance-user", "self"])
        command = [sys.executable, "-m", "hearth", *head, "--port", "0", "--control-port", "0", *self.args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=self.env, stdin=subprocess.DEVNULL)
        self._pumps = [threading.Thread(target=self._pump, args=(stream, lines), daemon=True)
                       for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))]
        for pump in self._pumps:
            pump.start()
        self.wait_for(lambda: any(line.startswith("control: ") for line in self.stdout), START_TIMEOUT_S,
                      "the gateway/control URL lines")
        self.gateway = next(line.split(" ", 1)[1] for line in self.stdout if line.startswith("gateway: "))
        self.control = next(line.split(" ", 1)[1] for line in self.stdout if line.startswith("control: "))
        return self

    def _pump(self, stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Block until ``condition()`` holds (re-checked on every output line), at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                assert self.process is not None
                if remaining <= 0 or (self.process.poll() is not None and not condition()):
                    raise AssertionError(f"timed out waiting for {what}; exit={self.process.poll()}\n"
                                         f"stdout: {self.stdout[-20:]}\nstderr: {self.stderr[-20:]}")
                self._changed.wait(min(remaining, 0.1))

    def instances(self, function: str | None = None) -> list[dict[str, object]]:
        listing = httpx.get(f"{self.control}/hearth/instances").json()["instances"]
        return [i for i in listing if function is None or i["function"] == function]

    def record(self, request_id: str) -> dict[str, object]:
        found = httpx.get(f"{self.control}/hearth/invocations", params={"request_id": request_id}).json()
        assert found["invocations"], f"no record for {request_id}"
        return found["invocations"][0]  # type: ignore[no-any-return]

    def kill(self) -> None:
        """SIGKILL the platform, as a crash would: nothing of it gets to clean up."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(15)
        self.stop()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for pump in self._pumps:
            pump.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return self.process.returncode


class Serve:
    """A ``hearth serve`` with its data folder and admin key: boto3, the ``hearth`` CLI and its own endpoints."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.process = HearthProcess(None, "--data-dir", str(data_dir), *args, env=env).start()
        self.key: dict[str, str] = json.loads((data_dir / "credentials.json").read_text())
        self.gateway = httpx.Client(base_url=self.process.gateway, timeout=30)

    def stop(self) -> None:
        self.gateway.close()
        assert self.process.stop() == 0, self.process.stderr[-20:]

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, validate: bool = True) -> Any:
        """A boto3 Lambda client with retries off; ``validate=False`` sends what botocore would refuse itself."""
        return self._boto("lambda", parameter_validation=validate)

    def sqs(self) -> Any:
        """A boto3 SQS client on the control port with retries off."""
        return self._boto("sqs")

    def _boto(self, service: str, **config: Any) -> Any:
        return boto3.client(
            service, endpoint_url=self.process.control, region_name="us-east-1",
            aws_access_key_id=self.key["access_key_id"], aws_secret_access_key=self.key["secret_access_key"],
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60,
                                          max_pool_connections=16, **config))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``hearth ARGS --endpoint … --data-dir …``: the key is found in the data folder, as a user's would be."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HEARTH_TOKEN", "HEARTH_ENDPOINT")}
        command = [sys.executable, "-m", "hearth", *args, "--endpoint", self.process.control,
                   "--data-dir", str(self.data_dir)]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    def deploy(self, project: Path) -> str:
        result = self.cli("deploy", str(project))
        assert result.returncode == 0, result.stderr
        return result.stdout

    def publish(self, name: str) -> str:
        result = self.cli("publish", name)
        assert result.returncode == 0, result.stderr
        found = re.match(rf"{name}: version (\d+) \(arn:aws:lambda:[^)]*:function:{name}:\d+\)$", result.stdout.strip())
        assert found, result.stdout
        return found.group(1)

    def native(self, path: str, **params: str) -> Any:
        """GET one of Hearth's own endpoints with the bearer token."""
        response = httpx.get(f"{self.process.control}{path}", params=params, timeout=30,
                             headers={"Authorization": f"Bearer {self.key['token']}"})
        response.raise_for_status()
        return response.json()

    def instances(self, function: str) -> list[dict[str, Any]]:
        return [i for i in self.native("/hearth/instances")["instances"] if i["function"] == function]

    def packages(self) -> set[str]:
        return {p.name for p in (self.data_dir / "code").iterdir() if p.is_dir() and not p.name.startswith(".")}

    def log_line(self, prefix: str) -> str:
        """The log line of the platform's output that starts with ``prefix``, once it has been printed."""
        self.process.wait_for(lambda: any(line.startswith(prefix) for line in self.process.stdout), 10, prefix)
        return next(line for line in self.process.stdout if line.startswith(prefix))


def poll(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    """Re-check ``condition`` until it holds or ``timeout_s`` passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie not yet reaped counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def core() -> Iterator[HearthProcess]:
    """The core test project served by ``hearth dev`` for a whole test module."""
    env = dict(os.environ, HEARTH_TEST_HOST_SECRET="must-not-leak")
    hearth = HearthProcess(PROJECTS / "core", "--no-watch", env=env).start()
    yield hearth
    hearth.stop()


@pytest.fixture
def project_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a test project into a temporary folder (for tests that edit files)."""
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(PROJECTS / name, target, ignore=shutil.ignore_patterns("__pycache__"))
        return target
    return copy


@pytest.fixture
def gateway(core: HearthProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=core.gateway, timeout=30) as client:
        yield client
