"""Lambda's EventInvokeConfig API (asynchronous invocation settings) on a real ``hearth serve``, driven by boto3:
Put replaces, Update merges, Get/List/Delete, Lambda's validation and errors, a restart, and the cascade when a
function, version or alias goes."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from conftest import Serve
from test_serve_api import create, error_code

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:failures"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with Serve(tmp_path_factory.mktemp("serve-eic"), "--quiet") as running:
        yield running


@pytest.fixture(scope="module")
def client(serve: Serve) -> Any:
    return serve.client()


def raw_bodies(client: Any, operation: str) -> list[dict[str, Any]]:
    """The JSON bodies the server sends for ``operation`` from now on, before botocore parses them."""
    bodies: list[dict[str, Any]] = []

    def keep(http_response: Any, **_: Any) -> None:
        bodies.append(json.loads(http_response.content or b"{}"))

    client.meta.events.register(f"after-call.lambda.{operation}", keep)
    return bodies


def test_put_get_update_list_and_delete(client: Any) -> None:
    create(client, "eic-main")
    create(client, "eic-dest")
    client.publish_version(FunctionName="eic-main")
    client.create_alias(FunctionName="eic-main", Name="live", FunctionVersion="1")
    sent = raw_bodies(client, "PutFunctionEventInvokeConfig")

    put = client.put_function_event_invoke_config(
        FunctionName="eic-main", MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": ARN + "eic-dest"}})
    assert put["FunctionArn"] == ARN + "eic-main:$LATEST"
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (1, 21600)
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": ARN + "eic-dest"}}
    age = datetime.datetime.now(datetime.UTC) - put["LastModified"]
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=1)
    assert isinstance(sent[0]["LastModified"], float)  # epoch seconds on the wire, as Lambda sends them

    got = client.get_function_event_invoke_config(FunctionName="eic-main")
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == \
        {k: v for k, v in put.items() if k != "ResponseMetadata"}

    # Update changes only what it names; a destination given replaces that destination only.
    updated = client.update_function_event_invoke_config(FunctionName="eic-main", MaximumEventAgeInSeconds=120)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 120)
    updated = client.update_function_event_invoke_config(
        FunctionName="eic-main", DestinationConfig={"OnSuccess": {"Destination": QUEUE}})
    assert updated["DestinationConfig"] == {"OnSuccess": {"Destination": QUEUE},
                                            "OnFailure": {"Destination": ARN + "eic-dest"}}
    # Put replaces the whole config: what it leaves out goes back to Lambda's defaults.
    replaced = client.put_function_event_invoke_config(FunctionName="eic-main", MaximumEventAgeInSeconds=3600)
    assert (replaced["MaximumRetryAttempts"], replaced["DestinationConfig"]) == (2, {"OnSuccess": {}, "OnFailure": {}})

    alias = client.put_function_event_invoke_config(FunctionName="eic-main:live", MaximumRetryAttempts=0)
    assert alias["FunctionArn"] == ARN + "eic-main:live"
    version = client.put_function_event_invoke_config(FunctionName="eic-main", Qualifier="1", MaximumRetryAttempts=0)
    assert version["FunctionArn"] == ARN + "eic-main:1"
    listed = client.list_function_event_invoke_configs(FunctionName="eic-main")["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [ARN + "eic-main:$LATEST", ARN + "eic-main:1", ARN + "eic-main:live"]
    pages = list(client.get_paginator("list_function_event_invoke_configs").paginate(
        FunctionName="eic-main", PaginationConfig={"PageSize": 2}))
    assert [len(page["FunctionEventInvokeConfigs"]) for page in pages] == [2, 1]

    deleted = client.delete_function_event_invoke_config(FunctionName="eic-main")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException) as failure:
        client.get_function_event_invoke_config(FunctionName="eic-main")
    assert error_code(failure) == ("ResourceNotFoundException", 404)
    assert failure.value.response["Error"]["Message"] == \
        f"The function {ARN}eic-main:$LATEST doesn't have an EventInvokeConfig"
    # The alias's config is its own: deleting $LATEST's left it, deleting the alias takes it along.
    kept = client.get_function_event_invoke_config(FunctionName="eic-main", Qualifier="live")
    assert kept["MaximumRetryAttempts"] == 0
    client.delete_alias(FunctionName="eic-main", Name="live")
    client.create_alias(FunctionName="eic-main", Name="live", FunctionVersion="1")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_event_invoke_config(FunctionName="eic-main", Qualifier="live")


def test_the_servers_validation(serve: Serve, client: Any) -> None:
    create(client, "eic-check")
    unchecked = serve.client(validate=False)  # the server's checks, not botocore's
    invalid: list[dict[str, Any]] = [
        {},  # nothing to configure
        {"MaximumRetryAttempts": 3},
        {"MaximumRetryAttempts": "two"},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21601},
        {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:000000000000:topic"}}},
        {"DestinationConfig": {"OnFailure": {"Destination": ARN + "eic-nobody"}}},
        {"DestinationConfig": {"OnSuccess": {"Destination": ARN + "eic-check:1"}}},  # itself
        {"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sqs:eu-west-1:000000000000:q"}}},
    ]
    for body in invalid:
        with pytest.raises(unchecked.exceptions.InvalidParameterValueException) as failure:
            unchecked.put_function_event_invoke_config(FunctionName="eic-check", **body)
        assert error_code(failure) == ("InvalidParameterValueException", 400), body
    message = failure.value.response["Error"]["Message"]
    assert "one region (us-east-1)" in message and "arn:aws:sqs:us-east-1:000000000000:NAME" in message

    with pytest.raises(client.exceptions.ResourceNotFoundException) as failure:  # Update needs a stored config
        client.update_function_event_invoke_config(FunctionName="eic-check", MaximumRetryAttempts=0)
    assert "doesn't have an EventInvokeConfig" in failure.value.response["Error"]["Message"]
    for call in (lambda: client.put_function_event_invoke_config(FunctionName="eic-check", Qualifier="9",
                                                                 MaximumRetryAttempts=0),
                 lambda: client.put_function_event_invoke_config(FunctionName="eic-ghost", MaximumRetryAttempts=0),
                 lambda: client.list_function_event_invoke_configs(FunctionName="eic-ghost"),
                 lambda: client.delete_function_event_invoke_config(FunctionName="eic-check")):
        with pytest.raises(client.exceptions.ResourceNotFoundException) as failure:
            call()
        assert error_code(failure) == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ParamValidationError):  # botocore checks minimums itself
        client.put_function_event_invoke_config(FunctionName="eic-check", MaximumEventAgeInSeconds=59)
    assert client.list_function_event_invoke_configs(FunctionName="eic-check")["FunctionEventInvokeConfigs"] == []


def test_configs_survive_a_restart_and_go_with_their_function(tmp_path: Path) -> None:
    first = Serve(tmp_path / "data", "--quiet")
    try:
        client = first.client()
        create(client, "eic-kept")
        put = client.put_function_event_invoke_config(FunctionName="eic-kept", MaximumEventAgeInSeconds=600,
                                                      DestinationConfig={"OnFailure": {"Destination": QUEUE}})
    finally:
        first.stop()
    second = Serve(tmp_path / "data", "--quiet")
    try:
        client = second.client()
        got = client.get_function_event_invoke_config(FunctionName="eic-kept")
        assert (got["LastModified"], got["MaximumEventAgeInSeconds"], got["DestinationConfig"]) == \
            (put["LastModified"], 600, {"OnSuccess": {}, "OnFailure": {"Destination": QUEUE}})
        client.delete_function(FunctionName="eic-kept")
        create(client, "eic-kept")  # the same name again starts without a config
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_function_event_invoke_config(FunctionName="eic-kept")
    finally:
        second.stop()


MANIFEST = """\
[functions.eic-deployed]
handler = "app.handler"

[functions.eic-deployed.async]
maximum_retry_attempts = 1
on_failure = "eic-audit"

[functions.eic-audit]
handler = "app.handler"
"""


def test_a_manifests_async_table_is_deployed_and_dropping_it_deletes_the_config(serve: Serve, client: Any,
                                                                                 tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "hearth.toml").write_text(MANIFEST)
    output = serve.deploy(tmp_path)
    assert f"created   async eic-deployed 1 retries, max age 21600s, on failure → {ARN}eic-audit" in output, output
    got = client.get_function_event_invoke_config(FunctionName="eic-deployed")
    assert got["MaximumRetryAttempts"] == 1
    assert got["DestinationConfig"]["OnFailure"] == {"Destination": ARN + "eic-audit"}

    table = '[functions.eic-deployed.async]\nmaximum_retry_attempts = 1\non_failure = "eic-audit"\n'
    (tmp_path / "hearth.toml").write_text(MANIFEST.replace(table, ""))
    assert "deleted   async eic-deployed" in serve.deploy(tmp_path)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_event_invoke_config(FunctionName="eic-deployed")
