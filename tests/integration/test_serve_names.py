"""Names through the real APIs of ``hearth serve``: function and alias names follow Lambda's patterns (boto3's
lambda client), queue names SQS's (its sqs client), secret names an environment variable's (``hearth secret set``
and ``PUT /hearth/secrets/{name}``). A bad name is refused with a message that says what a good one looks like,
and nothing is created; a trailing newline is not let through by a pattern's ``$``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import botocore.exceptions
import httpx
import pytest
from conftest import Serve

ROLE = "arn:aws:iam::000000000000:role/ignored"
BAD_ALIASES = ["has space", "1234", "x" * 129, "semi;colon", "dots.not.allowed", "", "live\n", "a/b"]
BAD_QUEUES = ["has space", "x" * 81, "dots.not.allowed", "", "jobs\n", "ünï"]
BAD_FUNCTIONS = ["fn\n", "has space"]


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with Serve(tmp_path_factory.mktemp("serve-names"), "--quiet") as running:
        yield running


@pytest.fixture(scope="module")
def client(serve: Serve) -> Any:
    lam = serve.client(validate=False)  # send what botocore would refuse itself: the server must refuse it too
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fns.py", "def echo(event, context):\n    return event\n")
    lam.create_function(FunctionName="named", Runtime="python3.12", Role=ROLE, Handler="fns.echo",
                        Code={"ZipFile": buffer.getvalue()}, Publish=True)
    return lam


def error_of(caught: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"])


@pytest.mark.parametrize("name", BAD_ALIASES)
def test_create_alias_refuses_a_name_outside_lambdas_pattern(client: Any, name: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.create_alias(FunctionName="named", Name=name, FunctionVersion="1")
    code, status, message = error_of(caught)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == f"Alias name {name!r} is not valid: use 1 to 128 letters, digits, '-' or '_', not only digits"
    assert [alias["Name"] for alias in client.list_aliases(FunctionName="named")["Aliases"]] == []


@pytest.mark.parametrize("name", BAD_FUNCTIONS)
def test_create_function_refuses_a_name_outside_lambdas_pattern(client: Any, name: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="fns.echo",
                               Code={"ZipFile": b"PK\x05\x06" + bytes(18)})
    code, status, message = error_of(caught)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == f"FunctionName {name!r} is not valid: use 1 to 64 letters, digits, '-' or '_', or the " \
                      "function's ARN"


@pytest.mark.parametrize("name", BAD_QUEUES)
def test_create_queue_refuses_a_name_outside_sqss_pattern(serve: Serve, name: str) -> None:
    sqs = serve.sqs()
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sqs.create_queue(QueueName=name)
    code, status, message = error_of(caught)
    assert (code, status) == ("InvalidParameterValue", 400), message  # as SQS answers it
    expected = ("The request must contain the parameter QueueName." if name == "" else
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length: "
                f"{name!r} is not a queue name: use 1 to 80 letters, digits, '-' or '_'")
    assert message == expected
    assert sqs.list_queues().get("QueueUrls", []) == []


@pytest.mark.parametrize("name", ["1-bad", "has space", "HEARTH_TOKEN", "AWS_LAMBDA_X", "x" * 129, "TOKEN\n"])
def test_a_secret_name_that_cannot_be_a_variable_is_refused(serve: Serve, name: str) -> None:
    answer = httpx.put(f"{serve.process.control}/hearth/secrets/{quote(name, safe='')}", json={"value": "v"},
                       headers={"Authorization": f"Bearer {serve.key['token']}"}, timeout=30)
    assert answer.status_code == 400, answer.text
    assert answer.headers["x-amzn-errortype"] == "InvalidSecretNameException"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    result = subprocess.run([sys.executable, "-m", "hearth", "secret", "set", name, "--endpoint",
                             serve.process.control, "--data-dir", str(serve.data_dir)], input="value\n",
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "InvalidSecretNameException" in result.stderr
    assert ("is not a valid secret name: use 1 to 128 letters, digits and '_'" in result.stderr
            or "is a variable Hearth sets in every instance" in result.stderr), result.stderr
    listing = httpx.get(f"{serve.process.control}/hearth/secrets", timeout=30,
                        headers={"Authorization": f"Bearer {serve.key['token']}"}).json()
    assert listing["secrets"] == []
