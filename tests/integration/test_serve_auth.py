"""Authentication of the control API: ``hearth serve`` verifies SigV4 (as boto3 signs) and bearer tokens; only
``hearth dev`` on loopback runs without."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import botocore.config
import botocore.exceptions
import httpx
import pytest
from conftest import PROJECTS, HearthProcess

LIST = "/2015-03-31/functions"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HearthProcess, dict[str, str], Path]]:
    data_dir = tmp_path_factory.mktemp("serve-auth")
    process = HearthProcess(None, "--data-dir", str(data_dir), "--quiet").start()
    try:
        yield process, json.loads((data_dir / "credentials.json").read_text()), data_dir
    finally:
        process.stop()


def client(control: str, key: str, secret: str) -> Any:
    return boto3.client("lambda", endpoint_url=control, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))


def rejected(call: Any) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as failure:
        call()
    response = failure.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_signed_requests_pass(serve: tuple[HearthProcess, dict[str, str], Path]) -> None:
    process, key, _ = serve
    lambda_client = client(process.control, key["access_key_id"], key["secret_access_key"])
    assert lambda_client.list_functions()["Functions"] == []
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):  # past authentication
        lambda_client.get_function(FunctionName="nosuch")


def test_unsigned_request_is_access_denied(serve: tuple[HearthProcess, dict[str, str], Path]) -> None:
    process, _, _ = serve
    for method in ("GET", "POST"):
        response = httpx.request(method, f"{process.control}{LIST}", timeout=30, content=b"{}")
        assert response.status_code == 403
        assert response.headers["x-amzn-errortype"] == "AccessDeniedException"
        assert "Missing Authentication Token" in response.json()["message"]
    health = httpx.get(f"{process.control}/hearth/health", timeout=30)  # readiness never needs credentials
    assert health.status_code == 200 and health.json()["authentication"] is True
    for native in ("/hearth/instances", "/hearth/invocations"):
        assert httpx.get(f"{process.control}{native}", timeout=30).status_code == 403


def test_wrong_secret_and_unknown_key_are_refused(serve: tuple[HearthProcess, dict[str, str], Path]) -> None:
    process, key, _ = serve
    secret = key["secret_access_key"]
    wrong = secret[:-1] + ("y" if secret.endswith("x") else "x")  # differs, whatever the secret ends in
    wrong_secret = client(process.control, key["access_key_id"], wrong)
    code, status, message = rejected(wrong_secret.list_functions)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "signature we calculated does not match" in message
    assert rejected(lambda: wrong_secret.invoke(FunctionName="x"))[:2] == ("InvalidSignatureException", 403)

    unknown = client(process.control, "HKNOSUCHKEY000000000", key["secret_access_key"])
    code, status, message = rejected(unknown.list_functions)
    assert (code, status) == ("AccessDeniedException", 403) and "HKNOSUCHKEY000000000" in message


def test_expired_signature_is_refused(serve: tuple[HearthProcess, dict[str, str], Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    process, key, _ = serve
    lambda_client = client(process.control, key["access_key_id"], key["secret_access_key"])
    real = botocore.auth.get_current_datetime

    def signed_at(minutes: float) -> None:
        monkeypatch.setattr(botocore.auth, "get_current_datetime",
                            lambda: real() + datetime.timedelta(minutes=minutes))

    signed_at(-6)  # botocore signs with its clock: the request looks six minutes old
    code, status, message = rejected(lambda_client.list_functions)
    assert (code, status) == ("InvalidSignatureException", 403) and "Signature expired" in message
    signed_at(6)
    code, status, message = rejected(lambda_client.list_functions)
    assert (code, status) == ("InvalidSignatureException", 403) and "not yet current" in message
    signed_at(-4)  # within the five-minute window
    assert lambda_client.list_functions()["Functions"] == []


def test_bearer_token(serve: tuple[HearthProcess, dict[str, str], Path]) -> None:
    process, key, _ = serve
    good = httpx.get(f"{process.control}{LIST}", timeout=30, headers={"Authorization": f"Bearer {key['token']}"})
    assert good.status_code == 200 and good.json() == {"Functions": []}
    for token in (key["token"] + "x", key["access_key_id"], "hearth_"):
        bad = httpx.get(f"{process.control}{LIST}", timeout=30, headers={"Authorization": f"Bearer {token}"})
        assert bad.status_code == 403 and bad.headers["x-amzn-errortype"] == "AccessDeniedException", token


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HEARTH_TOKEN", "HEARTH_ENDPOINT",
                        "HEARTH_DATA_DIR")}
    return {**env, **extra}


def hearth_ls(control: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hearth", "ls", "--endpoint", control, *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_cli_signs_or_sends_the_token(serve: tuple[HearthProcess, dict[str, str], Path], tmp_path: Path) -> None:
    process, key, data_dir = serve
    for env, args in (
        (cli_env(), ("--data-dir", str(data_dir))),  # the key file
        (cli_env(AWS_ACCESS_KEY_ID=key["access_key_id"], AWS_SECRET_ACCESS_KEY=key["secret_access_key"]),
         ("--data-dir", str(tmp_path))),  # SigV4 from the environment
        (cli_env(HEARTH_TOKEN=key["token"]), ("--data-dir", str(tmp_path))),  # bearer
    ):
        listed = hearth_ls(process.control, env, *args)
        assert listed.returncode == 0 and listed.stdout.strip() == "no functions", listed.stderr

    anonymous = hearth_ls(process.control, cli_env(), "--data-dir", str(tmp_path))
    assert anonymous.returncode == 1 and "AccessDeniedException" in anonymous.stderr
    assert "no credentials were found" in anonymous.stderr
    wrong = hearth_ls(process.control, cli_env(HEARTH_TOKEN="hearth_wrong"), "--data-dir", str(tmp_path))
    assert wrong.returncode == 1 and "bearer token is not valid" in wrong.stderr


def test_the_key_file_is_private_and_printed_once(serve: tuple[HearthProcess, dict[str, str], Path]) -> None:
    process, key, data_dir = serve
    assert (data_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
    printed = "\n".join(process.stderr)
    assert f"AWS_ACCESS_KEY_ID={key['access_key_id']} AWS_SECRET_ACCESS_KEY={key['secret_access_key']}" in printed
    assert key["secret_access_key"] not in "\n".join(process.stdout)


def test_dev_on_loopback_needs_no_auth_and_elsewhere_does(tmp_path: Path) -> None:
    loopback = HearthProcess(PROJECTS / "serve_deps", "--no-watch", "--quiet").start()
    try:
        listed = httpx.get(f"{loopback.control}{LIST}", timeout=30)
        assert listed.status_code == 200 and [f["FunctionName"] for f in listed.json()["Functions"]] == ["deps"]
        assert httpx.get(f"{loopback.control}/hearth/health", timeout=30).json()["authentication"] is False
    finally:
        loopback.stop()

    exposed = HearthProcess(PROJECTS / "serve_deps", "--no-watch", "--quiet", "--host", "0.0.0.0",
                            "--data-dir", str(tmp_path)).start()
    try:
        control = exposed.control.replace("0.0.0.0", "127.0.0.1")
        assert httpx.get(f"{control}{LIST}", timeout=30).status_code == 403
        token = json.loads((tmp_path / "credentials.json").read_text())["token"]
        assert httpx.get(f"{control}{LIST}", timeout=30,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        exposed.stop()
