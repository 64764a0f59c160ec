"""Toolchains for the ``runtime = "provided"`` tests: build the Go bootstrap, install AWS's Node.js runtime interface
client once per machine, and find the Python one. Caches live under ``~/.cache/hearth-tests`` so repeated runs are
fast; every missing tool is named together with how ``.ci/run`` installs it."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CACHE = Path.home() / ".cache" / "hearth-tests"
GO_CACHE = CACHE / "go"
# 4.x wants Node >= 22; Debian bookworm ships 18 and the dev machines have 20. 3.3.0 declares no engines and builds
# aws-lambda-cpp and curl from source on install (~80 s), hence the per-machine cache.
NODE_RIC_VERSION = "3.3.0"
GO_BUILD_TIMEOUT_S = 300.0
NPM_INSTALL_TIMEOUT_S = 900.0

# What .ci/run installs for each tool, for the messages.
INSTALL_HINTS = {
    "go": "apt-get install golang-go",
    "node": "apt-get install nodejs libnode-dev",
    "npm": "apt-get install npm",
    "bwrap": "apt-get install bubblewrap",
    "chromium": "apt-get install chromium",
}


def require_tool(name: str) -> str:
    """The absolute path of ``name`` on PATH; when it is missing, skip the test — or fail it under CI, which must
    never skip silently."""
    path = shutil.which(name)
    if path is not None:
        return str(Path(path).absolute())
    hint = INSTALL_HINTS.get(name, f"install {name}")
    message = f"{name} is not on PATH ({hint}; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def go_bootstrap(project_dir: Path, out_dir: Path) -> Path:
    """Build the Go program in ``project_dir`` into ``out_dir/bootstrap`` (static, with a shared build cache)."""
    go = _tool("go")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "bootstrap"
    env = {
        **os.environ,
        "GOCACHE": str(GO_CACHE / "build"),
        "GOPATH": str(GO_CACHE / "path"),
        "CGO_ENABLED": "0",
        "GO111MODULE": "on",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",  # the program uses the standard library only: nothing to fetch
        "GOTOOLCHAIN": "local",  # a newer go must not try to download another toolchain
    }
    result = subprocess.run([go, "build", "-o", str(target), "."], cwd=project_dir, env=env, capture_output=True,
                            text=True, timeout=GO_BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"go build in {project_dir} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return target


def node_ric_dir() -> Path:
    """A directory whose ``node_modules`` holds ``aws-lambda-ric`` (pinned), installed once per machine.

    An flock keeps concurrent test processes from building it twice; the install goes to a temporary directory that
    is renamed into place only once complete, so an interrupted install never leaves a half-built cache behind."""
    target = CACHE / f"node-ric-{NODE_RIC_VERSION}"
    if _node_ric_ready(target):
        return target
    npm = _tool("npm")
    node = _tool("node")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"node-ric-{NODE_RIC_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _node_ric_ready(target):  # another process finished it while this one waited
            return target
        for stale in CACHE.glob(f"node-ric-{NODE_RIC_VERSION}.tmp-*"):  # left by an interrupted install
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            shutil.rmtree(target)
        staging = Path(tempfile.mkdtemp(prefix=f"node-ric-{NODE_RIC_VERSION}.tmp-", dir=CACHE))
        try:
            _npm_install(npm, node, staging)
            os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def ric_python() -> str:
    """The interpreter that has ``awslambdaric`` (the test extras install it): this one."""
    if importlib.util.find_spec("awslambdaric") is None:
        raise RuntimeError(f'awslambdaric is not installed for {sys.executable}: python -m pip install -e ".[test]"')
    return sys.executable


def _npm_install(npm: str, node: str, staging: Path) -> None:
    (staging / "package.json").write_text(json.dumps({"name": "hearth-test-node-ric", "private": True}))
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
           "npm_config_audit": "false"}
    # node-gyp would download Node's headers from the internet; use the ones installed beside node instead.
    prefix = Path(node).resolve().parent.parent
    if (prefix / "include" / "node" / "node.h").is_file():
        env.setdefault("npm_config_nodedir", str(prefix))
    result = subprocess.run([npm, "install", "--no-save", f"aws-lambda-ric@{NODE_RIC_VERSION}"], cwd=staging, env=env,
                            capture_output=True, text=True, timeout=NPM_INSTALL_TIMEOUT_S, stdin=subprocess.DEVNULL,
                            check=False)
    if result.returncode != 0 or not _node_ric_ready(staging):
        raise RuntimeError(
            f"npm install aws-lambda-ric@{NODE_RIC_VERSION} failed ({result.returncode}); its native build needs "
            "g++ make cmake autoconf automake libtool python3 and Node's headers (.ci/run installs them):\n"
            f"{result.stdout[-4000:]}{result.stderr[-4000:]}")


def _node_ric_ready(directory: Path) -> bool:
    package = directory / "node_modules" / "aws-lambda-ric"
    return (package / "dist" / "rapid-client.node").is_file() and (directory / "node_modules" / ".bin"
                                                                   / "aws-lambda-ric").exists()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        hint = INSTALL_HINTS.get(name, f"install {name}")
        raise RuntimeError(f"{name} is not on PATH: {hint} (.ci/run installs it)")
    return str(Path(path).absolute())
