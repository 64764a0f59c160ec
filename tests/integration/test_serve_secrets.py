"""Secrets on a real ``hearth serve``: a function reads them (as variables and as files), a new value reaches
the next call, a missing one fails deploy and instance start by name, the master key rotates and a wrong one is
refused; and the plain value appears nowhere else: no CLI output, HTTP answer, platform output or file in the
data folder (state, logs, events, meter) holds it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest
from conftest import HearthProcess, Serve, poll

APP = '''
import hashlib, os, stat

def env(event, context):
    print("env handler ran")
    value = os.environ.get("DB_URL")
    return {"sha256": None if value is None else hashlib.sha256(value.encode()).hexdigest()}

def files(event, context):
    print("files handler ran")
    folder = os.environ["HEARTH_SECRETS_DIR"]
    path = os.path.join(folder, "DB_URL")
    with open(path, "rb") as file:
        data = file.read()
    return {"sha256": hashlib.sha256(data).hexdigest(), "mode": oct(stat.S_IMODE(os.stat(path).st_mode)),
            "in_env": "DB_URL" in os.environ, "listing": sorted(os.listdir(folder))}

def web(event, context):
    value = os.environ.get("DB_URL", "")
    return {"statusCode": 200, "body": hashlib.sha256(value.encode()).hexdigest()}
'''

MANIFEST = '''
[functions.reader]
handler = "app.env"
secrets = ["DB_URL"]

[functions.filereader]
handler = "app.files"
secrets = ["DB_URL", "API_TOKEN"]
secrets_as_files = true

[functions.web]
handler = "app.web"
secrets = ["DB_URL"]

[[routes]]
path = "/web"
function = "web"
'''


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Outputs:
    """Every text the test saw, to search for the plain values at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *texts: Any) -> None:
        self.texts.extend(t if isinstance(t, str) else json.dumps(t, default=str) for t in texts)


def cli(serve: Serve, seen: Outputs, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HEARTH_TOKEN", "HEARTH_ENDPOINT")}
    command = [sys.executable, "-m", "hearth", *args, "--endpoint", serve.process.control,
               "--data-dir", str(serve.data_dir)]
    result = subprocess.run(command, capture_output=True, text=True, env={**base, **(env or {})}, timeout=120,
                            input=stdin if stdin is not None else "")
    seen.add(result.stdout, result.stderr)
    return result


def invoke(serve: Serve, seen: Outputs, function: str) -> dict[str, Any]:
    result = cli(serve, seen, "invoke", function)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def data_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "app.py").write_text(APP)
    (root / "hearth.toml").write_text(MANIFEST)
    return root


def test_secrets_reach_functions_and_nothing_else(tmp_path: Path, project: Path) -> None:
    plain, plain2, token = (f"plant-{uuid.uuid4().hex}" for _ in range(3))
    data = tmp_path / "data"
    seen = Outputs()
    serve = Serve(data)
    try:
        # Deploying a project that reads secrets not set yet fails, naming the secret and the command.
        refused = cli(serve, seen, "deploy", str(project))
        assert refused.returncode == 1
        assert "SecretNotFoundException" in refused.stderr and "hearth secret set DB_URL" in refused.stderr
        assert serve.native("/hearth/health")["functions"] == []

        # Values come from stdin or a file, never argv; a bad name is refused with its error type.
        bad = cli(serve, seen, "secret", "set", "1-bad", stdin=plain + "\n")
        assert bad.returncode == 1 and "InvalidSecretNameException" in bad.stderr
        empty = cli(serve, seen, "secret", "set", "DB_URL", stdin="")
        assert empty.returncode == 2 and "no value for DB_URL" in empty.stderr
        assert cli(serve, seen, "secret", "set", "DB_URL", stdin=plain + "\n").returncode == 0
        token_file = tmp_path / "token.txt"
        token_file.write_text(token)
        assert cli(serve, seen, "secret", "set", "API_TOKEN", "--from-file", str(token_file)).returncode == 0
        token_file.unlink()
        assert (data / "master.key").stat().st_mode & 0o777 == 0o600

        serve.deploy(project)
        assert invoke(serve, seen, "reader") == {"sha256": sha(plain)}
        got = invoke(serve, seen, "filereader")
        assert got == {"sha256": sha(plain), "mode": "0o400", "in_env": False, "listing": ["API_TOKEN", "DB_URL"]}
        response = serve.gateway.get("/web")
        seen.add(response.text, dict(response.headers))
        assert response.text == sha(plain)

        # A new value reaches the next call: the idle instance that held the old one is replaced.
        before = {i["id"] for i in serve.instances("reader")}
        assert before
        listed = cli(serve, seen, "secret", "set", "DB_URL", stdin=plain2)
        assert listed.returncode == 0 and "version 2" in listed.stdout
        assert poll(lambda: not before & {i["id"] for i in serve.instances("reader")}, 10)
        assert invoke(serve, seen, "reader") == {"sha256": sha(plain2)}
        assert invoke(serve, seen, "filereader")["sha256"] == sha(plain2)

        # What may be shown: names, versions, users. Never values.
        ls = cli(serve, seen, "secret", "ls", "--json")
        shown = json.loads(ls.stdout)
        assert {(s["name"], s["version"], tuple(s["functions"])) for s in shown["secrets"]} == {
            ("API_TOKEN", 1, ("filereader",)), ("DB_URL", 2, ("filereader", "reader", "web"))}
        assert shown["missing"] == []
        cli(serve, seen, "secret", "ls")
        lam = serve.client()
        config = lam.get_function_configuration(FunctionName="reader")
        assert "DB_URL" not in config["Environment"]["Variables"]
        function = lam.get_function(FunctionName="filereader")
        seen.add(config, function)
        raw = httpx.get(f"{serve.process.control}/2015-03-31/functions/filereader/configuration",
                        headers={"Authorization": f"Bearer {serve.key['token']}"})
        assert raw.json()["Secrets"] == {"Names": ["DB_URL", "API_TOKEN"], "AsFiles": True}
        seen.add(raw.text)
        for args in (("ls",), ("logs", "reader"), ("logs", "filereader"), ("logs", "web")):
            result = cli(serve, seen, *args)
            assert result.returncode == 0, result.stderr
        assert "env handler ran" in " ".join(seen.texts)
        for path in ("/hearth/invocations", "/hearth/instances", "/hearth/secrets"):
            seen.add(serve.native(path))
        metrics = httpx.get(f"{serve.process.control}/metrics",
                            headers={"Authorization": f"Bearer {serve.key['token']}"})
        seen.add(metrics.text)
        # Hearth's Secrets field through the Lambda API: only secrets that are set.
        auth = {"Authorization": f"Bearer {serve.key['token']}"}
        url = f"{serve.process.control}/2015-03-31/functions/web/configuration"
        unset = httpx.put(url, json={"Secrets": {"Names": ["NOT_SET"]}}, headers=auth)
        assert unset.status_code == 404 and unset.headers["x-amzn-errortype"] == "SecretNotFoundException"
        assert "hearth secret set NOT_SET" in unset.text
        updated = httpx.put(url, json={"Secrets": {"Names": ["DB_URL", "API_TOKEN"], "AsFiles": False}},
                            headers=auth)
        assert updated.status_code == 200 and updated.json()["Secrets"]["Names"] == ["DB_URL", "API_TOKEN"]
        seen.add(unset.text, updated.text)
        # A malformed body is refused without being quoted back.
        put = httpx.put(f"{serve.process.control}/hearth/secrets/DB_URL", content=plain.encode(),
                        headers={"Authorization": f"Bearer {serve.key['token']}"})
        assert put.status_code == 400 and put.headers["x-amzn-errortype"] == "InvalidRequestContentException"
        seen.add(put.text)

        # Rotating the master key re-seals every secret; the functions still read the same values.
        old_key = (data / "master.key").read_text()
        rotated = cli(serve, seen, "secret", "rotate-key")
        assert rotated.returncode == 0 and "re-encrypted 2 secrets" in rotated.stdout
        assert (data / "master.key").read_text() != old_key

        # Removing a secret a function reads: its next instance fails to start, naming it.
        removed = cli(serve, seen, "secret", "rm", "API_TOKEN")
        assert removed.returncode == 0 and "filereader, web still read it" in removed.stdout
        after = json.loads(cli(serve, seen, "secret", "ls", "--json").stdout)
        assert after["missing"] == [{"name": "API_TOKEN", "functions": ["filereader", "web"], "routes": []}]
        assert "not set" in cli(serve, seen, "secret", "ls").stdout
        failed = cli(serve, seen, "invoke", "filereader")
        assert failed.returncode == 1
        assert "Runtime.MissingSecret" in failed.stdout + failed.stderr
        assert "hearth secret set API_TOKEN" in failed.stdout + failed.stderr
        with pytest.raises(botocore.exceptions.ClientError):
            lam.get_function(FunctionName="nope")
    finally:
        serve.stop()
    seen.add(*serve.process.stdout, *serve.process.stderr)

    # A restart reads the rotated key file; the values are intact.
    again = Serve(data, "--quiet")
    try:
        assert invoke(again, seen, "reader") == {"sha256": sha(plain2)}
    finally:
        again.stop()
    seen.add(*again.process.stdout, *again.process.stderr)

    # Another key is refused at start, with a message saying which key is needed (never garbage values).
    wrong = base64.b64encode(os.urandom(32)).decode()
    env = {**os.environ, "HEARTH_MASTER_KEY": wrong}
    started = subprocess.run([sys.executable, "-m", "hearth", "serve", "--data-dir", str(data), "--port", "0",
                              "--control-port", "0"], capture_output=True, text=True, env=env, timeout=60,
                             stdin=subprocess.DEVNULL)
    assert started.returncode != 0
    assert "HEARTH_MASTER_KEY" in started.stderr and "not the key the stored secrets" in started.stderr
    seen.add(started.stdout, started.stderr)

    everything = "\n".join(seen.texts)
    stored = data_bytes(data)
    assert len(everything) > 1000 and b"DB_URL" in stored
    for value in (plain, plain2, token):
        assert value not in everything
        assert value.encode() not in stored


def test_a_master_key_from_the_environment_writes_no_file_and_rotates_only_to_a_given_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    first, second = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    seen = Outputs()
    monkeypatch.setenv("HEARTH_MASTER_KEY", first)
    serve = Serve(data, "--quiet")
    try:
        assert cli(serve, seen, "secret", "set", "DB_URL", stdin="v1").returncode == 0
        refused = cli(serve, seen, "secret", "rotate-key")
        assert refused.returncode == 1 and "--new-key-from-file" in refused.stderr
        (tmp_path / "new.key").write_text(second + "\n")
        rotated = cli(serve, seen, "secret", "rotate-key", "--new-key-from-file", str(tmp_path / "new.key"))
        assert rotated.returncode == 0 and "restart Hearth with HEARTH_MASTER_KEY" in rotated.stdout
    finally:
        serve.stop()
    assert not (data / "master.key").exists()
    # The old key no longer opens the secrets; the new one does.
    old = subprocess.run([sys.executable, "-m", "hearth", "serve", "--data-dir", str(data), "--port", "0",
                          "--control-port", "0"], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert old.returncode != 0 and "not the key the stored secrets" in old.stderr
    monkeypatch.setenv("HEARTH_MASTER_KEY", second)
    again = Serve(data, "--quiet")
    try:
        assert {s["name"] for s in again.native("/hearth/secrets")["secrets"]} == {"DB_URL"}
    finally:
        again.stop()
    assert not (data / "master.key").exists()


SERVER = '''
import hashlib, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = hashlib.sha256(os.environ.get("DB_URL", "").encode()).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''

BOOTSTRAP = '''#!{python}
import hashlib, json, os, urllib.request

api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        response.read()
    body = {{"statusCode": 200, "body": hashlib.sha256(os.environ.get("DB_URL", "").encode()).hexdigest()}}
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", json.dumps(body).encode(),
                                                  method="POST")).read()
'''

DEV_MANIFEST = '''
[functions.server]
runtime = "http"
command = ["{python}", "server.py", "{{port}}"]
secrets = ["DB_URL"]

[functions.native]
runtime = "provided"
secrets = ["DB_URL"]

[[routes]]
path = "/server"
function = "server"

[[routes]]
path = "/native"
function = "native"
'''


def test_every_runtime_gets_its_secrets_in_hearth_dev(tmp_path: Path) -> None:
    root = tmp_path / "dev"
    root.mkdir()
    (root / "server.py").write_text(SERVER)
    bootstrap = root / "bootstrap"
    bootstrap.write_text(BOOTSTRAP.format(python=sys.executable))
    bootstrap.chmod(0o755)
    (root / "hearth.toml").write_text(DEV_MANIFEST.format(python=sys.executable))
    hearth = HearthProcess(root, "--no-watch").start()
    try:
        gateway = httpx.Client(base_url=hearth.gateway, timeout=30)
        # Not set yet: the instance cannot start, and says which secret and how to set it.
        missing = gateway.get("/native")
        assert missing.status_code == 502 and "hearth secret set DB_URL" in missing.text
        value = f"plant-{uuid.uuid4().hex}"
        put = httpx.put(f"{hearth.control}/hearth/secrets/DB_URL", json={"value": value})
        assert put.status_code == 200 and value not in put.text
        assert gateway.get("/native").text == sha(value)
        assert gateway.get("/server").text == sha(value)
        # A new value: the idle server process is retired, the next request starts one that sees it.
        assert httpx.put(f"{hearth.control}/hearth/secrets/DB_URL", json={"value": value + "2"}).status_code == 200
        assert gateway.get("/server").text == sha(value + "2")
        assert gateway.get("/native").text == sha(value + "2")
        gateway.close()
    finally:
        hearth.stop()
    assert value not in "\n".join(hearth.stdout + hearth.stderr)
