"""Lambda's JSON shapes: specs rendered as botocore expects them, requests parsed with Lambda's validation."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from hearth import errors
from hearth.api import shapes
from hearth.model import LATEST, AliasSpec, EventInvokeConfig, FunctionSpec, HeaderRule

ARN = "arn:aws:lambda:us-east-1:000000000000:function"


def spec(**changes: Any) -> FunctionSpec:
    values: dict[str, Any] = dict(
        name="hello", handler="app.handler", code_dir=Path("/code/abc"), runtime="python3.12", memory_mb=256,
        timeout_s=30.0, env={"GREETING": "hi"}, description="says hi", code_sha256=hashlib.sha256(b"zip").hexdigest(),
        code_size=321, revision_id="rev-1", last_modified="2026-11-21T10:10:10.123+0000",
    )
    values.update(changes)
    return FunctionSpec(**values)


# -- responses -------------------------------------------------------------------------------------------------


def test_configuration_of_latest() -> None:
    shape = shapes.configuration(spec())
    assert shape["FunctionName"] == "hello"
    assert shape["FunctionArn"] == f"{ARN}:hello"
    assert shape["Version"] == LATEST
    assert shape["CodeSha256"] == base64.b64encode(hashlib.sha256(b"zip").digest()).decode()
    assert shape["Timeout"] == 30 and isinstance(shape["Timeout"], int)
    assert (shape["Runtime"], shape["Handler"], shape["MemorySize"], shape["CodeSize"]) == (
        "python3.12", "app.handler", 256, 321)
    assert shape["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert (shape["RevisionId"], shape["LastModified"], shape["Description"]) == (
        "rev-1", "2026-11-21T10:10:10.123+0000", "says hi")
    assert shape["Role"] == "arn:aws:iam::000000000000:role/hearth-function"
    assert shape["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/hello"}
    assert (shape["State"], shape["LastUpdateStatus"], shape["PackageType"]) == ("Active", "Successful", "Zip")


def test_configuration_of_a_version_has_a_qualified_arn() -> None:
    shape = shapes.configuration(spec(version="3"))
    assert shape["FunctionArn"] == f"{ARN}:hello:3"
    assert shape["Version"] == "3"


def test_configuration_of_a_live_folder_has_no_digest_and_a_fractional_timeout_stays() -> None:
    shape = shapes.configuration(spec(code_sha256="", timeout_s=2.5))
    assert shape["CodeSha256"] == ""
    assert shape["Timeout"] == 2.5


def test_alias_shape_plain() -> None:
    shape = shapes.alias_shape(AliasSpec("hello", "live", "2", description="prod", revision_id="r"))
    assert shape == {"AliasArn": f"{ARN}:hello:live", "Name": "live", "FunctionVersion": "2",
                     "Description": "prod", "RevisionId": "r"}


def test_alias_shape_with_weights_and_rules() -> None:
    alias = AliasSpec("hello", "live", "1", weights={"2": 0.25}, rules=(
        HeaderRule("x-env", "3", equals="gray"), HeaderRule("x-user", "2", low=10.0, high=20.0),
        HeaderRule("x-build", LATEST, low=5.0)))
    shape = shapes.alias_shape(alias)
    assert shape["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert shape["RoutingRules"] == [
        {"Header": "x-env", "FunctionVersion": "3", "Equals": "gray"},
        {"Header": "x-user", "FunctionVersion": "2", "Range": [10.0, 20.0]},
        {"Header": "x-build", "FunctionVersion": LATEST, "Range": [5.0, None]},
    ]


# -- requests --------------------------------------------------------------------------------------------------


def test_new_function_reads_every_field() -> None:
    created = shapes.new_function({
        "FunctionName": f"{ARN}:hello", "Runtime": "python3.11", "Handler": "pkg.mod.fn", "MemorySize": 1024,
        "Timeout": 60, "Description": "d", "Environment": {"Variables": {"A_1": "x"}}, "PackageType": "Zip",
    })
    assert (created.name, created.runtime, created.handler, created.memory_mb) == (
        "hello", "python3.11", "pkg.mod.fn", 1024)
    assert created.timeout_s == 60.0 and isinstance(created.timeout_s, float)
    assert (created.description, dict(created.env), created.version) == ("d", {"A_1": "x"}, LATEST)


@pytest.mark.parametrize(("body", "message"), [
    ({"PackageType": "Image"}, "PackageType Image is not supported; upload a .zip package"),
    ({"Handler": "app.handler"}, "Runtime is required for a .zip package"),
    ({"Runtime": "python3.12"}, "Handler is required for a .zip package"),
    ({"Runtime": "python3.12", "Handler": "app.handler"}, "FunctionName is required"),
    ({"Runtime": "python3.12", "Handler": "app.handler", "FunctionName": "bad name"},
     "FunctionName 'bad name' is not valid"),
    ({"Runtime": "nodejs20.x", "Handler": "app.handler", "FunctionName": "f"},
     "Runtime 'nodejs20.x' is not supported; use python3.X (e.g. python3.12), or provided.al2023"),
])
def test_new_function_refuses(body: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidParameterValue) as raised:
        shapes.new_function(body)
    assert message in raised.value.message


@pytest.mark.parametrize(("body", "message"), [
    ({"Handler": "app"}, "Handler 'app' is not valid for python3.12: use \"module.function\""),
    ({"Handler": "app.1x"}, "Handler 'app.1x' is not valid"),
    ({"Handler": "app..handler"}, "Handler 'app..handler' is not valid"),
    ({"Handler": 7}, "Handler 7 is not valid"),
    ({"Runtime": "java21"}, "Runtime 'java21' is not supported"),
    ({"Runtime": None}, "Runtime None is not supported"),
    ({"MemorySize": 127}, "MemorySize must be a whole number from 128 to 10240, got 127"),
    ({"MemorySize": 10241}, "MemorySize must be a whole number from 128 to 10240, got 10241"),
    ({"MemorySize": 256.0}, "got 256.0"),
    ({"MemorySize": True}, "got True"),
    ({"Timeout": 0}, "Timeout must be a whole number from 1 to 900, got 0"),
    ({"Timeout": 901}, "Timeout must be a whole number from 1 to 900, got 901"),
    ({"Timeout": 1.5}, "got 1.5"),
    ({"Timeout": "3"}, "got '3'"),
    ({"Description": "x" * 257}, "Description must be a string of at most 256 characters"),
    ({"Environment": {"Variables": {"1ABC": "x"}}}, "Environment variable name '1ABC' is not valid"),
    ({"Environment": {"Variables": {"A-B": "x"}}}, "Environment variable name 'A-B' is not valid"),
    ({"Environment": {"Variables": {"A": 1}}}, "Environment.Variables must map names to strings"),
    ({"Environment": {"Variables": ["A=1"]}}, "Environment.Variables must map names to strings"),
    ({"Environment": "A=1"}, "Environment.Variables must map names to strings"),
])
def test_update_configuration_refuses(body: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidParameterValue) as raised:
        shapes.update_configuration(spec(), body)
    assert message in raised.value.message


def test_update_configuration_keeps_what_the_body_does_not_set() -> None:
    before = spec()
    after = shapes.update_configuration(before, {"MemorySize": 128, "Timeout": 900})
    assert (after.memory_mb, after.timeout_s) == (128, 900.0)
    assert (after.handler, after.runtime, dict(after.env), after.code_sha256) == (
        before.handler, before.runtime, dict(before.env), before.code_sha256)
    assert shapes.update_configuration(before, {}) == before
    assert dict(shapes.update_configuration(before, {"Environment": {}}).env) == {}
    assert dict(shapes.update_configuration(before, {"Environment": None}).env) == {}


def test_alias_from_a_request() -> None:
    alias = shapes.alias_from("hello", "live", {"FunctionVersion": "1", "Description": "d",
                                                "RoutingConfig": {"AdditionalVersionWeights": {"2": 1}}})
    assert alias == AliasSpec("hello", "live", "1", weights={"2": 1.0}, description="d")
    base = AliasSpec("hello", "live", "1", weights={"2": 0.5}, rules=(HeaderRule("x", "2", equals="y"),),
                     description="keep")
    updated = shapes.alias_from("hello", "live", {"FunctionVersion": "3"}, base=base)
    assert (updated.version, dict(updated.weights), updated.rules, updated.description) == (
        "3", {"2": 0.5}, base.rules, "keep")
    cleared = shapes.alias_from("hello", "live", {"RoutingConfig": {}}, base=base)
    assert (cleared.version, dict(cleared.weights)) == ("1", {})


@pytest.mark.parametrize(("body", "message"), [
    ({}, "FunctionVersion is required"),
    ({"FunctionVersion": ""}, "FunctionVersion is required"),
    ({"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": "0.5"}}},
     "The weight of version 2 must be a number from 0 to 1"),
    ({"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": True}}}, "weight of version 2"),
    ({"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": float("inf")}}},
     "weight of version 2"),
    ({"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": [["2", 0.5]]}},
     "AdditionalVersionWeights must map a version to a weight"),
    ({"FunctionVersion": "1", "RoutingConfig": "2=0.5"}, "AdditionalVersionWeights must map"),
    ({"FunctionVersion": "1", "Description": 5}, "Description must be a string"),
])
def test_alias_from_refuses(body: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidParameterValue) as raised:
        shapes.alias_from("hello", "live", body)
    assert message in raised.value.message


def test_decode_zip() -> None:
    assert shapes.decode_zip({"ZipFile": base64.b64encode(b"PK\x03\x04data").decode()}) == b"PK\x03\x04data"


@pytest.mark.parametrize(("code", "message"), [
    (None, "Code must contain ZipFile, the zipped package"),
    ("UEsDBA==", "Code must contain ZipFile, the zipped package"),
    ({}, "Code must contain ZipFile, the zipped package"),
    ({"S3Bucket": "b", "S3Key": "k"}, "(S3Bucket, S3Key is not supported: Hearth has no S3 or image registry)"),
    ({"ImageUri": "x"}, "(ImageUri is not supported"),
    ({"ZipFile": "not base64!"}, "Code.ZipFile is not valid base64"),
    ({"ZipFile": "UEsDBA"}, "Code.ZipFile is not valid base64"),  # missing padding
    ({"ZipFile": "UEsD BA=="}, "Code.ZipFile is not valid base64"),  # botocore never sends whitespace
    ({"ZipFile": None}, "Code.ZipFile is not valid base64"),
    ({"ZipFile": 12}, "Code.ZipFile is not valid base64"),
    ({"ZipFile": "ÜEsDBA=="}, "Code.ZipFile is not valid base64"),
])
def test_decode_zip_refuses(code: Any, message: str) -> None:
    with pytest.raises(errors.InvalidParameterValue) as raised:
        shapes.decode_zip(code)
    assert message in raised.value.message


@pytest.mark.parametrize(("value", "name", "qualifier"), [
    ("hello", "hello", None),
    ("my-func_2", "my-func_2", None),
    ("hello:live", "hello", "live"),
    ("hello:7", "hello", "7"),
    ("hello:$LATEST", "hello", LATEST),
    ("000000000000:function:hello", "hello", None),
    ("000000000000:function:hello:live", "hello", "live"),
    (f"{ARN}:hello", "hello", None),
    (f"{ARN}:hello:3", "hello", "3"),
    ("arn:aws:lambda:eu-west-1:123456789012:function:hello:live", "hello", "live"),
])
def test_function_name_and_qualifier(value: str, name: str, qualifier: str | None) -> None:
    assert shapes.function_name(value) == name
    assert shapes.qualifier_of(value) == qualifier


@pytest.mark.parametrize("value", [
    "", "bad name", "x" * 65, "hello:live:extra", "arn:aws:s3:::bucket", "arn:aws:lambda:us-east-1:0:layer:x",
    f"{ARN}:", "000000000000:function:",
])
def test_function_name_refuses(value: str) -> None:
    with pytest.raises(errors.InvalidParameterValue, match="is not valid"):
        shapes.function_name(value)


def test_function_name_is_required() -> None:
    with pytest.raises(errors.InvalidParameterValue, match="FunctionName is required"):
        shapes.function_name(None)


# -- asynchronous invocation configs ---------------------------------------------------------------------------


def test_an_event_invoke_config_has_a_qualified_arn_and_epoch_seconds() -> None:
    config = EventInvokeConfig("hello", "live", 0, 60, on_failure=f"{ARN}:other",
                               last_modified="2026-11-21T10:10:10.123+0000")
    assert shapes.event_invoke_config_shape(config) == {
        "LastModified": 1795255810.123,
        "FunctionArn": f"{ARN}:hello:live",
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 60,
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": f"{ARN}:other"}},
    }


def test_a_request_sets_only_what_it_names() -> None:
    base = EventInvokeConfig("hello", maximum_retry_attempts=0, on_success=f"{ARN}:a", on_failure=f"{ARN}:b")
    assert shapes.event_invoke_config_from(base, {"MaximumEventAgeInSeconds": 120}) == \
        EventInvokeConfig("hello", maximum_retry_attempts=0, maximum_event_age_s=120, on_success=f"{ARN}:a",
                          on_failure=f"{ARN}:b")
    cleared = shapes.event_invoke_config_from(base, {"DestinationConfig": {"OnSuccess": {"Destination": ""}}})
    assert (cleared.on_success, cleared.on_failure) == (None, f"{ARN}:b")
    assert shapes.event_invoke_config_from(base, {"DestinationConfig": {"OnFailure": {}}}).on_failure is None


@pytest.mark.parametrize(("body", "message"), [
    ({}, "at least one of error handling or destination setting"),
    ({"Qualifier": "1"}, "at least one"),
    ({"MaximumRetryAttempts": True}, "MaximumRetryAttempts must be a whole number from 0 to 2"),
    ({"MaximumEventAgeInSeconds": 30}, "MaximumEventAgeInSeconds must be a whole number from 60 to 21600"),
    ({"DestinationConfig": {"OnError": {}}}, "DestinationConfig must be"),
    ({"DestinationConfig": {"OnFailure": {"Destination": 7}}}, "DestinationConfig must be"),
    ({"DestinationConfig": ["x"]}, "DestinationConfig must be"),
])
def test_a_bad_request_says_what_to_send(body: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidParameterValue, match=message):
        shapes.event_invoke_config_from(EventInvokeConfig("hello"), body)


def test_a_dead_letter_config_is_a_queue_arn_set_shown_and_removed() -> None:
    base = FunctionSpec(name="f", handler="app.handler", code_dir=Path("/x"))
    arn = "arn:aws:sqs:us-east-1:000000000000:failed"
    with_dlq = shapes.update_configuration(base, {"DeadLetterConfig": {"TargetArn": arn}})
    assert with_dlq.dead_letter_arn == arn
    assert shapes.configuration(with_dlq)["DeadLetterConfig"] == {"TargetArn": arn}
    assert "DeadLetterConfig" not in shapes.configuration(base)
    assert shapes.update_configuration(with_dlq, {"DeadLetterConfig": {}}).dead_letter_arn is None
    with pytest.raises(errors.InvalidParameterValue, match="must be a queue's ARN"):
        shapes.update_configuration(base, {"DeadLetterConfig": {"TargetArn": "arn:aws:lambda:us-east-1:"
                                                                              "000000000000:function:g"}})
    with pytest.raises(errors.InvalidParameterValue, match="DeadLetterConfig.TargetArn 'nope' is not valid"):
        shapes.update_configuration(base, {"DeadLetterConfig": {"TargetArn": "nope"}})


def test_a_zip_over_lambdas_50_mb_upload_limit_is_refused() -> None:
    limit = shapes.MAX_ZIPPED_BYTES
    assert limit == 50 * 1024 * 1024
    assert len(shapes.decode_zip({"ZipFile": base64.b64encode(bytes(limit)).decode()})) == limit
    with pytest.raises(errors.RequestTooLarge, match=f"is {limit + 1} bytes zipped; .* at most {limit} bytes"):
        shapes.decode_zip({"ZipFile": base64.b64encode(bytes(limit + 1)).decode()})
