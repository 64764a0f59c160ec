"""Third-party servers for the ``runtime = "http"`` tests: npm's ``json-server`` (pinned), installed once per machine
under ``~/.cache/hearth-tests`` (as ``runtime_tools`` does for Node's runtime interface client)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from runtime_tools import CACHE, require_tool

# 0.17.4 is the newest release on npm's ``latest`` tag (the 1.0 betas need Node >= 22); CommonJS, no native code.
JSON_SERVER_VERSION = "0.17.4"
NPM_INSTALL_TIMEOUT_S = 600.0


def json_server() -> tuple[str, Path]:
    """The absolute paths of ``node`` and of json-server's CLI script; skips (fails under CI) without node/npm."""
    node = require_tool("node")
    npm = require_tool("npm")
    target = CACHE / f"json-server-{JSON_SERVER_VERSION}"
    if not _ready(target):
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / f"json-server-{JSON_SERVER_VERSION}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _ready(target):  # another test process may have finished it while this one waited
                _install(npm, target)
    return node, _script(target)


def _install(npm: str, target: Path) -> None:
    """``npm install`` into a staging folder renamed into place once complete (never a half-built cache)."""
    for stale in CACHE.glob(f"json-server-{JSON_SERVER_VERSION}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if target.exists():
        shutil.rmtree(target)
    staging = Path(tempfile.mkdtemp(prefix=f"json-server-{JSON_SERVER_VERSION}.tmp-", dir=CACHE))
    try:
        (staging / "package.json").write_text(json.dumps({"name": "hearth-test-json-server", "private": True}))
        env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
               "npm_config_audit": "false"}
        result = subprocess.run([npm, "install", "--no-save", "--ignore-scripts", f"json-server@{JSON_SERVER_VERSION}"],
                                cwd=staging, env=env, capture_output=True, text=True, timeout=NPM_INSTALL_TIMEOUT_S,
                                stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0 or not _ready(staging):
            raise RuntimeError(f"npm install json-server@{JSON_SERVER_VERSION} failed ({result.returncode}):\n"
                               f"{result.stdout[-4000:]}{result.stderr[-4000:]}")
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _script(directory: Path) -> Path:
    return directory / "node_modules" / "json-server" / "lib" / "cli" / "bin.js"


def _ready(directory: Path) -> bool:
    return _script(directory).is_file() and (directory / "node_modules" / "express").is_dir()
