"""Isolation by identity on a real ``hearth serve`` run as root (its default, ``--instance-user auto``): each
function runs under a uid of its own and cannot read the platform's data folder (key, state, code store), the
platform's environment, another function's code, home or secret files; it can read its own code and secrets, and
write its own home. A ``provided`` runtime's executable, started from the code store, runs the same way."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HearthProcess, Serve

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only a platform run as root can switch uids")

PROBE = '''
import json, os

def handler(event, context):
    seen = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "home": os.environ["HOME"],
            "tmpdir": os.environ["TMPDIR"], "file": __file__, "task_root": os.environ["LAMBDA_TASK_ROOT"]}
    with open(__file__) as own:
        seen["own_code"] = "def handler" in own.read()
    folder = os.environ.get("HEARTH_SECRETS_DIR")
    if folder:
        with open(os.path.join(folder, "SHARED_KEY")) as secret:
            seen["secret_length"] = len(secret.read())
        seen["secrets_dir"] = folder
    note = os.path.join(os.environ["TMPDIR"], "note.txt")
    with open(note, "w") as out:
        out.write("mine")
    seen["note"] = note
    import urllib.request, email.utils  # not pre-imported: from the interpreter's own library
    seen["stdlib"] = urllib.request.__name__
    for path in event.get("read", []):
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as file:
                    file.read(1)
            seen[path] = "read"
        except OSError as exc:
            seen[path] = type(exc).__name__
    return seen
'''

BOOTSTRAP = '''#!/usr/bin/python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as reply:
        request_id = reply.headers["Lambda-Runtime-Aws-Request-Id"]
        reply.read()
    with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "data.txt")) as data:
        body = {"uid": os.getuid(), "data": data.read(), "cwd_listing": sorted(os.listdir("."))}
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", json.dumps(body).encode(),
                                                  method="POST")).read()
'''


def project(root: Path, name: str, manifest: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "hearth.toml").write_text(manifest)
    for file, text in files.items():
        (folder / file).write_text(text)
    return folder


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    root = tmp_path_factory.mktemp("isolation")
    platform = Serve(root / "data", "--instance-user", "auto")
    try:
        set_secret = subprocess.run([sys.executable, "-m", "hearth", "secret", "set", "SHARED_KEY", "--endpoint",
                                     platform.process.control, "--data-dir", str(platform.data_dir)],
                                    input="s3cr3t-value", capture_output=True, text=True, timeout=60)
        assert set_secret.returncode == 0, set_secret.stderr
        platform.deploy(project(root, "alpha", '[functions.alpha]\nhandler = "probe.handler"\n'
                                'secrets = ["SHARED_KEY"]\nsecrets_as_files = true\n', {"probe.py": PROBE}))
        platform.deploy(project(root, "beta", '[functions.beta]\nhandler = "probe2.handler"\n',
                                {"probe2.py": PROBE + "\n# beta's own copy\n"}))
        boot = project(root, "native", '[functions.native]\nruntime = "provided"\nhandler = "bootstrap"\n',
                       {"bootstrap": BOOTSTRAP, "data.txt": "task root data"})
        (boot / "bootstrap").chmod(0o755)
        platform.deploy(boot)
        yield platform
    finally:
        platform.stop()


def invoke(serve: Serve, name: str, event: dict[str, Any]) -> dict[str, Any]:
    reply = serve.client().invoke(FunctionName=name, Payload=json.dumps(event))
    payload = json.loads(reply["Payload"].read())
    assert "FunctionError" not in reply, payload
    return payload  # type: ignore[no-any-return]


def code_folder(serve: Serve, module: str) -> Path:
    """The code store's folder of the package holding ``module`` (the test, as root, can look)."""
    matches = [folder for folder in (serve.data_dir / "code").iterdir() if (folder / module).is_file()]
    assert len(matches) == 1, matches
    return matches[0]


def test_each_function_runs_under_a_uid_of_its_own_without_groups(serve: Serve) -> None:
    alpha = invoke(serve, "alpha", {})
    beta = invoke(serve, "beta", {})
    assert alpha["uid"] != 0 and beta["uid"] != 0
    assert alpha["uid"] != beta["uid"]
    assert alpha["gid"] == alpha["uid"] and alpha["groups"] == []
    assert alpha["own_code"] is True and alpha["stdlib"] == "urllib.request"
    assert alpha["secret_length"] == len("s3cr3t-value")
    owners = {os.stat(f"/proc/{pid}").st_uid for pid in _instance_pids(serve, "alpha")}
    assert owners == {alpha["uid"]}


def test_the_platform_data_folder_and_environment_are_out_of_reach(serve: Serve) -> None:
    data = serve.data_dir
    process = serve.process.process
    assert process is not None
    paths = [str(data / "master.key"), str(data / "state.db"), str(data / "credentials.json"), str(data),
             str(data / "code"), f"/proc/{process.pid}/environ"]
    seen = invoke(serve, "beta", {"read": paths})
    assert {path: seen[path] for path in paths} == {path: "PermissionError" for path in paths}
    assert (data / "master.key").exists() and (data / "state.db").exists()  # there, just not readable
    assert stat.S_IMODE(data.stat().st_mode) == 0o700  # by itself, whatever the folders above it allow


def test_another_functions_code_home_and_secrets_are_out_of_reach(serve: Serve) -> None:
    alpha = invoke(serve, "alpha", {})
    alpha_code = code_folder(serve, "probe.py")
    targets = [str(alpha_code / "probe.py"), str(alpha_code), alpha["note"], alpha["home"], alpha["secrets_dir"],
               os.path.join(alpha["secrets_dir"], "SHARED_KEY")]
    seen = invoke(serve, "beta", {"read": targets})
    assert {path: seen[path] for path in targets} == {path: "PermissionError" for path in targets}
    own = invoke(serve, "alpha", {"read": [alpha["note"], str(alpha_code / "probe.py")]})
    assert own[alpha["note"]] == "read"  # its home is its own (the same warm instance)
    assert own[str(alpha_code / "probe.py")] == "PermissionError"  # by name even its own package is behind 0700
    assert own["own_code"] is True  # ... but it imports and reads it through the descriptor it was given


def test_a_provided_runtime_runs_as_its_functions_uid_from_its_task_root(serve: Serve) -> None:
    native = invoke(serve, "native", {})
    assert native["uid"] != 0
    assert native["data"] == "task root data"
    assert "bootstrap" in native["cwd_listing"]


def _instance_pids(serve: Serve, function: str) -> list[int]:
    return [item["pid"] for item in serve.instances(function) if item.get("pid")]


def test_a_code_folder_its_uid_cannot_read_fails_init_saying_what_to_do(tmp_path: Path) -> None:
    folder = project(tmp_path, "private", '[functions.hello]\nhandler = "hello.handler"\n[[routes]]\n'
                     'path = "/hello"\nfunction = "hello"\n', {"hello.py": "def handler(event, context):\n"
                                                                "    return {'statusCode': 200, 'body': 'hi'}\n"})
    folder.chmod(0o700)
    process = HearthProcess(folder, "--instance-user", "auto", "--no-watch").start()
    try:
        with httpx.Client(base_url=process.gateway, timeout=30) as client:
            refused = client.get("/hello")
            assert refused.status_code == 502
            body = refused.json()
            assert body["errorType"] == "Runtime.ImportModuleError"
            assert "is not readable by uid" in body["errorMessage"] and "chmod -R o+rX" in body["errorMessage"]
            folder.chmod(0o755)
            answered = client.get("/hello")  # the failed instance was discarded; a new one reads the folder
            assert (answered.status_code, answered.text) == (200, "hi")
    finally:
        assert process.stop() == 0
