"""``hearth invoke`` and real AWS clients (boto3) against the control API."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from conftest import HearthProcess


def hearth_invoke(core: HearthProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hearth", "invoke", *args, "--endpoint", core.control],
                          capture_output=True, text=True, timeout=60)


def test_invoke_prints_result(core: HearthProcess, tmp_path: Path) -> None:
    result = hearth_invoke(core, "echo", "--data", '{"name": "ada"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["event"] == {"name": "ada"}
    event_file = tmp_path / "event.json"
    event_file.write_text('{"from": "file"}')
    result = hearth_invoke(core, "echo", "--data", f"@{event_file}")
    assert json.loads(result.stdout)["event"] == {"from": "file"}


def test_invoke_function_error_exits_non_zero(core: HearthProcess) -> None:
    result = hearth_invoke(core, "boom")
    assert result.returncode == 1
    assert json.loads(result.stdout)["errorType"] == "Custom"


def test_invoke_unknown_function_and_bad_data(core: HearthProcess) -> None:
    missing = hearth_invoke(core, "nosuch")
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr
    bad = hearth_invoke(core, "echo", "--data", "{not json")
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr


@pytest.fixture
def lambda_client(core: HearthProcess):  # type: ignore[no-untyped-def]
    return boto3.client("lambda", endpoint_url=core.control, region_name="us-east-1",
                        aws_access_key_id="dev", aws_secret_access_key="dev")


def test_boto3_invoke(lambda_client) -> None:  # type: ignore[no-untyped-def]
    response = lambda_client.invoke(FunctionName="echo", Payload=b'{"n": 1}', LogType="Tail")
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert json.loads(response["Payload"].read())["event"] == {"n": 1}
    assert response["ExecutedVersion"] == "$LATEST"
    log = base64.b64decode(response["LogResult"]).decode()
    assert "START RequestId:" in log and "REPORT RequestId:" in log


def test_boto3_function_error_and_missing_function(lambda_client) -> None:  # type: ignore[no-untyped-def]
    failed = lambda_client.invoke(FunctionName="boom")
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorMessage"] == "it went wrong on purpose"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="nosuch")
    with pytest.raises(botocore.exceptions.ClientError) as bad:
        lambda_client.invoke(FunctionName="echo", Payload=b"{not json")
    assert bad.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_boto3_throttle(lambda_client) -> None:  # type: ignore[no-untyped-def]
    client = boto3.client("lambda", endpoint_url=lambda_client.meta.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="dev", aws_secret_access_key="dev",
                          config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.invoke(FunctionName="disabled")
