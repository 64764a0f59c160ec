"""The Lambda REST API of a real ``hearth serve`` on port 0, driven by boto3 and the AWS CLI as clients.

One server runs for the module (each test uses its own function names). boto3 retries are off, so a 429 or 5xx
surfaces as the exception the server meant, not as a retry's outcome.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.config
import botocore.exceptions
import httpx
import pytest
from conftest import PROJECTS, Serve, poll

from hearth.config.package import pack

FNS = PROJECTS / "serve_fns"
ROLE = "arn:aws:iam::000000000000:role/ignored"
CONCURRENCY_LIMIT = 40


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("serve-api")
    with Serve(data, "--concurrency-limit", str(CONCURRENCY_LIMIT), "--quiet") as running:
        yield running


@pytest.fixture(scope="module")
def client(serve: Serve) -> Any:
    return serve.client()


def package(mark: str = "code-a") -> bytes:
    """The serve_fns folder zipped as ``hearth deploy`` zips it; another ``mark`` changes the code (and digest)."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "fns"
        shutil.copytree(FNS, folder, ignore=shutil.ignore_patterns("__pycache__"))
        source = folder / "fns.py"
        source.write_text(source.read_text().replace('MARK = "code-a"', f'MARK = "{mark}"'))
        data, _files, _size = pack([folder])
    return data


def create(client: Any, name: str, handler: str = "fns.echo", **extra: Any) -> dict[str, Any]:
    return client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=handler,
                                  Code={"ZipFile": package()}, **extra)  # type: ignore[no-any-return]


def invoke(client: Any, name: str, payload: Any = None, **extra: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **extra)
    return response, json.loads(response["Payload"].read() or b"null")


def error_code(failure: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, int]:
    response = failure.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- functions and code ------------------------------------------------------------------------------------------


def test_create_get_update_and_delete(serve: Serve, client: Any) -> None:
    created = create(client, "api-basic", MemorySize=256, Timeout=10, Environment={"Variables": {"V": "one"}},
                     Description="first")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["Version"] == "$LATEST" and created["State"] == "Active"
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:api-basic"
    assert (created["MemorySize"], created["Timeout"], created["Description"]) == (256, 10, "first")
    assert base64.b64decode(created["CodeSha256"]).hex() in serve.packages()

    fetched = client.get_function(FunctionName="api-basic")
    assert fetched["Configuration"]["RevisionId"] == created["RevisionId"]
    assert client.get_function_configuration(FunctionName="api-basic")["Environment"] == {"Variables": {"V": "one"}}
    assert invoke(client, "api-basic", {"k": 1})[1] == {"event": {"k": 1}, "mark": "code-a", "v": "one",
                                                        "version": "$LATEST",
                                                        "pid": invoke(client, "api-basic")[1]["pid"]}

    updated = client.update_function_configuration(FunctionName="api-basic", Environment={"Variables": {"V": "two"}},
                                                   MemorySize=512, RevisionId=created["RevisionId"])
    assert updated["MemorySize"] == 512 and updated["RevisionId"] != created["RevisionId"]
    assert invoke(client, "api-basic")[1]["v"] == "two"  # new configuration, new instance
    with pytest.raises(client.exceptions.ResourceConflictException):  # a stale RevisionId is refused
        client.update_function_configuration(FunctionName="api-basic", Timeout=5, RevisionId=created["RevisionId"])

    code = client.update_function_code(FunctionName="api-basic", ZipFile=package("code-b"))
    assert code["CodeSha256"] != created["CodeSha256"] and code["RevisionId"] != updated["RevisionId"]
    assert invoke(client, "api-basic")[1]["mark"] == "code-b"

    with pytest.raises(client.exceptions.ResourceConflictException):
        create(client, "api-basic")
    client.delete_function(FunctionName="api-basic")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="api-basic")


def test_identical_code_is_stored_once_and_keeps_the_revision(serve: Serve, client: Any) -> None:
    first = create(client, "api-same-1")
    second = create(client, "api-same-2")
    assert first["CodeSha256"] == second["CodeSha256"]
    assert len([p for p in serve.packages() if base64.b64decode(first["CodeSha256"]).hex() == p]) == 1
    before = serve.packages()
    again = client.update_function_code(FunctionName="api-same-1", ZipFile=package())
    assert again["RevisionId"] == first["RevisionId"]  # the same bytes change nothing
    assert again["LastModified"] == first["LastModified"]
    assert serve.packages() == before


def test_invalid_parameters_are_400(serve: Serve) -> None:
    client = serve.client(validate=False)  # the server's checks, not botocore's
    cases: list[dict[str, Any]] = [
        {"MemorySize": 64},
        {"MemorySize": "big"},
        {"Timeout": 901},
        {"Runtime": "cobol85"},
        {"Handler": "no-dots-here"},
        {"Environment": {"Variables": {"1BAD": "x"}}},
    ]
    for extra in cases:
        body = {"FunctionName": "api-invalid", "Runtime": "python3.12", "Role": ROLE, "Handler": "fns.echo",
                "Code": {"ZipFile": package()}, **extra}
        with pytest.raises(client.exceptions.InvalidParameterValueException) as failure:
            client.create_function(**body)
        assert error_code(failure) == ("InvalidParameterValueException", 400), extra
    with pytest.raises(client.exceptions.InvalidParameterValueException) as failure:
        client.create_function(FunctionName="api-invalid", Runtime="python3.12", Role=ROLE, Handler="fns.echo",
                               Code={"ZipFile": b"this is not a zip"})
    assert "unzip" in failure.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="api-invalid")  # nothing half-created


# -- versions and aliases ----------------------------------------------------------------------------------------


def test_publish_versions(client: Any) -> None:
    create(client, "api-versions", Environment={"Variables": {"V": "one"}})
    first = client.publish_version(FunctionName="api-versions", Description="v1")
    assert first["Version"] == "1" and first["Description"] == "v1"
    assert first["FunctionArn"].endswith(":function:api-versions:1")
    assert client.publish_version(FunctionName="api-versions")["Version"] == "1"  # nothing changed: same version
    client.update_function_configuration(FunctionName="api-versions", Environment={"Variables": {"V": "two"}})
    second = client.publish_version(FunctionName="api-versions")
    assert second["Version"] == "2"
    client.update_function_code(FunctionName="api-versions", ZipFile=package("code-c"))

    listed = client.list_versions_by_function(FunctionName="api-versions")["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    assert client.get_function(FunctionName="api-versions", Qualifier="1")["Configuration"]["Environment"] == {
        "Variables": {"V": "one"}}
    # versions are immutable: each runs what it snapshotted, wherever the qualifier comes from
    response, body = invoke(client, "api-versions", Qualifier="1")
    assert response["ExecutedVersion"] == "1" and (body["v"], body["mark"], body["version"]) == ("one", "code-a", "1")
    response, body = invoke(client, "arn:aws:lambda:us-east-1:000000000000:function:api-versions:2")
    assert response["ExecutedVersion"] == "2" and (body["v"], body["mark"]) == ("two", "code-a")
    response, body = invoke(client, "api-versions")
    assert response["ExecutedVersion"] == "$LATEST" and body["mark"] == "code-c"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        invoke(client, "api-versions", Qualifier="9")

    client.delete_function(FunctionName="api-versions", Qualifier="1")
    assert [v["Version"] for v in client.list_versions_by_function(FunctionName="api-versions")["Versions"]] == [
        "$LATEST", "2"]
    assert client.publish_version(FunctionName="api-versions")["Version"] == "3"  # numbers are never reused


def test_aliases_crud(serve: Serve, client: Any) -> None:
    create(client, "api-alias")
    client.publish_version(FunctionName="api-alias")
    client.update_function_configuration(FunctionName="api-alias", Environment={"Variables": {"V": "2"}})
    client.publish_version(FunctionName="api-alias")

    alias = client.create_alias(FunctionName="api-alias", Name="live", FunctionVersion="1", Description="prod")
    assert alias["AliasArn"].endswith(":function:api-alias:live") and alias["FunctionVersion"] == "1"
    with pytest.raises(client.exceptions.ResourceConflictException):
        client.create_alias(FunctionName="api-alias", Name="live", FunctionVersion="2")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.create_alias(FunctionName="api-alias", Name="ghost", FunctionVersion="7")
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.create_alias(FunctionName="api-alias", Name="both", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}})

    updated = client.update_alias(FunctionName="api-alias", Name="live", FunctionVersion="2",
                                  RevisionId=alias["RevisionId"])
    assert updated["FunctionVersion"] == "2" and updated["Description"] == "prod"
    with pytest.raises(client.exceptions.ResourceConflictException):
        client.update_alias(FunctionName="api-alias", Name="live", FunctionVersion="1", RevisionId=alias["RevisionId"])
    assert client.get_alias(FunctionName="api-alias", Name="live")["RevisionId"] == updated["RevisionId"]
    through_alias = invoke(client, "api-alias", Qualifier="live")[0]
    assert through_alias["ExecutedVersion"] == "2"
    [record] = serve.native("/hearth/invocations", request_id=through_alias["ResponseMetadata"]["RequestId"])[
        "invocations"]
    assert (record["alias"], record["version"], record["trigger"]) == ("live", "2", "invoke")  # what the caller named
    assert client.get_function_configuration(FunctionName="api-alias", Qualifier="live")["Version"] == "2"
    with pytest.raises(client.exceptions.ResourceConflictException):  # an alias still uses version 2
        client.delete_function(FunctionName="api-alias", Qualifier="2")

    # DeleteFunction's Qualifier names a version: neither $LATEST nor an alias deletes anything
    for qualifier in ("$LATEST", "live"):
        with pytest.raises(client.exceptions.InvalidParameterValueException):
            client.delete_function(FunctionName="api-alias", Qualifier=qualifier)
    assert [v["Version"] for v in client.list_versions_by_function(FunctionName="api-alias")["Versions"]] == [
        "$LATEST", "1", "2"]

    client.delete_alias(FunctionName="api-alias", Name="live")
    assert client.list_aliases(FunctionName="api-alias")["Aliases"] == []
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_alias(FunctionName="api-alias", Name="live")


def test_weighted_alias_splits_traffic(client: Any) -> None:
    """1,200 calls to an alias with 25 % on version 2: the count on version 2 is Binomial(1200, 0.25), mean 300
    and standard deviation 15. The test allows 5 standard deviations (225–375), so a correct split fails it
    about once in 1.7 million runs, while a split that ignores the weight (0 or 1,200) or inverts it (900) fails
    every time."""
    create(client, "api-weights")
    client.publish_version(FunctionName="api-weights")
    client.update_function_configuration(FunctionName="api-weights", Environment={"Variables": {"V": "2"}})
    client.publish_version(FunctionName="api-weights")
    alias = client.create_alias(FunctionName="api-weights", Name="canary", FunctionVersion="1",
                                RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}

    calls, weight = 1200, 0.25

    def one(_: int) -> tuple[str, str | None]:
        response, body = invoke(client, "api-weights", Qualifier="canary")
        return response["ExecutedVersion"], body["v"]

    with ThreadPoolExecutor(8) as workers:
        results = list(workers.map(one, range(calls)))
    assert all((version, v) in (("1", None), ("2", "2")) for version, v in results)  # the header and the code agree
    on_two = Counter(version for version, _ in results)["2"]
    sigma = math.sqrt(calls * weight * (1 - weight))
    assert abs(on_two - calls * weight) <= 5 * sigma, f"{on_two} of {calls} calls ran version 2"

    # the START line of the log tail names the version that ran, too
    response = client.invoke(FunctionName="api-weights", Qualifier="canary", LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    assert f"Version: {response['ExecutedVersion']}\n" in log.split("START RequestId: ", 1)[1]

    client.update_alias(FunctionName="api-weights", Name="canary", RoutingConfig={"AdditionalVersionWeights": {}})
    assert {invoke(client, "api-weights", Qualifier="canary")[0]["ExecutedVersion"] for _ in range(20)} == {"1"}


# -- concurrency -------------------------------------------------------------------------------------------------


def test_reserved_concurrency_zero_throttles(client: Any) -> None:
    create(client, "api-reserved")
    assert client.get_function_concurrency(FunctionName="api-reserved").get("ReservedConcurrentExecutions") is None
    assert client.put_function_concurrency(FunctionName="api-reserved",
                                           ReservedConcurrentExecutions=0)["ReservedConcurrentExecutions"] == 0
    assert client.get_function(FunctionName="api-reserved")["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    for _ in range(3):
        with pytest.raises(client.exceptions.TooManyRequestsException) as failure:
            invoke(client, "api-reserved")
        assert error_code(failure) == ("TooManyRequestsException", 429)
    client.delete_function_concurrency(FunctionName="api-reserved")
    assert invoke(client, "api-reserved")[0]["StatusCode"] == 200

    # the platform limit keeps room for unreserved functions (a tenth of the limit here)
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.put_function_concurrency(FunctionName="api-reserved", ReservedConcurrentExecutions=CONCURRENCY_LIMIT)
    client.put_function_concurrency(FunctionName="api-reserved", ReservedConcurrentExecutions=3)
    assert client.get_function_concurrency(FunctionName="api-reserved")["ReservedConcurrentExecutions"] == 3


def test_reserved_and_platform_limits_count_invocations_in_flight(tmp_path: Path) -> None:
    """``--concurrency-limit 2`` with 1 reserved for ``hold``: one busy ``hold`` fills its reservation, one busy
    ``other`` fills the unreserved rest; every further call is throttled until they finish."""
    serve = Serve(tmp_path / "data", "--concurrency-limit", "2", "--quiet")
    try:
        client = serve.client()
        for name, handler in (("hold", "fns.hold"), ("other", "fns.hold"), ("third", "fns.echo")):
            create(client, name, handler=handler, Timeout=30)
        client.put_function_concurrency(FunctionName="hold", ReservedConcurrentExecutions=1)
        gate = tmp_path / "gate"
        with ThreadPoolExecutor(2) as workers:
            held = [workers.submit(invoke, client, name, {"gate": str(gate)}) for name in ("hold", "other")]
            try:
                assert poll(lambda: sorted(i["function"] for i in serve.native("/hearth/instances")["instances"]
                                           if i["state"] == "busy") == ["hold", "other"], 20, 0.02)
                for name in ("hold", "other", "third"):
                    with pytest.raises(client.exceptions.TooManyRequestsException):
                        invoke(client, name, {"gate": str(gate)})
            finally:
                gate.touch()
            assert [future.result()[1] for future in held] == [{"released": True}] * 2
        assert invoke(client, "third")[1]["event"] == {}
    finally:
        serve.stop()


def test_provisioned_instances_serve_without_init(serve: Serve, client: Any) -> None:
    create(client, "api-provisioned")
    client.publish_version(FunctionName="api-provisioned")
    client.create_alias(FunctionName="api-provisioned", Name="live", FunctionVersion="1")
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.put_provisioned_concurrency_config(FunctionName="api-provisioned", Qualifier="$LATEST",
                                                  ProvisionedConcurrentExecutions=1)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.put_provisioned_concurrency_config(FunctionName="api-provisioned", Qualifier="nope",
                                                  ProvisionedConcurrentExecutions=1)

    put = client.put_provisioned_concurrency_config(FunctionName="api-provisioned", Qualifier="live",
                                                    ProvisionedConcurrentExecutions=2)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["Status"] == "IN_PROGRESS" and put["RequestedProvisionedConcurrentExecutions"] == 2

    def status() -> dict[str, Any]:
        return client.get_provisioned_concurrency_config(  # type: ignore[no-any-return]
            FunctionName="api-provisioned", Qualifier="live")

    assert poll(lambda: status()["Status"] == "READY", 20, 0.05)
    assert status()["AvailableProvisionedConcurrentExecutions"] == 2
    ready = {i["pid"] for i in serve.instances("api-provisioned") if i["provisioned"]}
    assert len(ready) == 2

    # provisioned instances serve first: no Init Duration, no on-demand instance started
    for qualifier in ("live", "1"):
        response, body = invoke(client, "api-provisioned", Qualifier=qualifier, LogType="Tail")
        log = base64.b64decode(response["LogResult"]).decode()
        assert "REPORT RequestId:" in log and "Init Duration" not in log
        assert body["pid"] in ready and response["ExecutedVersion"] == "1"
    assert {i["pid"] for i in serve.instances("api-provisioned")} == ready

    # a provisioned instance that dies is replaced
    victim = sorted(ready)[0]
    os.kill(victim, signal.SIGKILL)
    assert poll(lambda: victim not in {i["pid"] for i in serve.instances("api-provisioned")}
                and status()["Status"] == "READY", 20, 0.05)
    assert len({i["pid"] for i in serve.instances("api-provisioned") if i["provisioned"]}) == 2

    listed = client.list_provisioned_concurrency_configs(FunctionName="api-provisioned")
    assert [(c["FunctionArn"].rsplit(":", 1)[1], c["RequestedProvisionedConcurrentExecutions"], c["Status"])
            for c in listed["ProvisionedConcurrencyConfigs"]] == [("live", 2, "READY")]

    client.delete_provisioned_concurrency_config(FunctionName="api-provisioned", Qualifier="live")
    with pytest.raises(client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        status()
    assert client.list_provisioned_concurrency_configs(FunctionName="api-provisioned")[
        "ProvisionedConcurrencyConfigs"] == []
    assert poll(lambda: not any(i["provisioned"] for i in serve.instances("api-provisioned")), 20, 0.05)


# -- invoke ------------------------------------------------------------------------------------------------------


def test_invoke_types_and_function_errors(serve: Serve, client: Any) -> None:
    create(client, "api-invoke")
    create(client, "api-boom", handler="fns.boom")
    create(client, "api-chatty", handler="fns.chatty")

    dry = client.invoke(FunctionName="api-invoke", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="api-nosuch", InvocationType="DryRun")

    event = client.invoke(FunctionName="api-invoke", InvocationType="Event", Payload=b'{"async": true}')
    assert event["StatusCode"] == 202 and event["Payload"].read() == b""
    request_id = event["ResponseMetadata"]["RequestId"]

    def ran() -> bool:
        return any(r["status"] == "success" for r in serve.native("/hearth/invocations", request_id=request_id)
                   ["invocations"])

    assert poll(ran, 20, 0.05), "the Event invocation never ran"

    failed = client.invoke(FunctionName="api-boom")
    assert failed["StatusCode"] == 200 and failed["FunctionError"] == "Unhandled"
    payload = json.loads(failed["Payload"].read())
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "broken on purpose"

    tail = client.invoke(FunctionName="api-chatty", LogType="Tail")
    log = base64.b64decode(tail["LogResult"])
    assert len(log) == 4096  # the last 4 KB of a longer log
    text = log.decode()
    assert "line 099" in text and "last line" in text and "START RequestId" not in text
    assert text.rstrip("\n").splitlines()[-1].startswith("REPORT RequestId: ")

    with pytest.raises(botocore.exceptions.ClientError) as bad:
        client.invoke(FunctionName="api-invoke", Payload=b"{not json")
    assert error_code(bad) == ("InvalidRequestContentException", 400)
    with pytest.raises(client.exceptions.RequestTooLargeException) as large:
        client.invoke(FunctionName="api-invoke", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert error_code(large) == ("RequestTooLargeException", 413)
    assert invoke(client, "api-invoke", {"after": "large"})[1]["event"] == {"after": "large"}


def test_unknown_function_is_404_with_lambdas_error(serve: Serve, client: Any) -> None:
    calls = [
        lambda: client.get_function(FunctionName="api-ghost"),
        lambda: client.get_function_configuration(FunctionName="api-ghost"),
        lambda: client.invoke(FunctionName="api-ghost"),
        lambda: client.update_function_code(FunctionName="api-ghost", ZipFile=package()),
        lambda: client.publish_version(FunctionName="api-ghost"),
        lambda: client.list_aliases(FunctionName="api-ghost"),
        lambda: client.delete_function(FunctionName="api-ghost"),
        lambda: client.get_function_concurrency(FunctionName="api-ghost"),
    ]
    for call in calls:
        with pytest.raises(client.exceptions.ResourceNotFoundException) as failure:
            call()
        assert error_code(failure) == ("ResourceNotFoundException", 404)
        assert "api-ghost" in failure.value.response["Error"]["Message"]
    raw = httpx.get(f"{serve.process.control}/2015-03-31/functions/api-ghost", timeout=30,
                    headers={"Authorization": f"Bearer {serve.key['token']}"})
    assert raw.status_code == 404 and raw.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert raw.json()["Type"] == "User" and "api-ghost" in raw.json()["message"]


def test_pagination(client: Any) -> None:
    names = [f"api-page-{n}" for n in range(7)]
    for name in names:
        create(client, name)
    first = client.list_functions(MaxItems=2)
    assert len(first["Functions"]) == 2 and first["NextMarker"]
    pages = list(client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3}))
    assert len(pages) >= 3 and all(len(page["Functions"]) <= 3 for page in pages)
    listed = [f["FunctionName"] for page in pages for f in page["Functions"]]
    assert len(listed) == len(set(listed)) and set(names) <= set(listed)
    assert "NextMarker" not in pages[-1]

    client.publish_version(FunctionName="api-page-0")
    for n in range(3):
        client.create_alias(FunctionName="api-page-0", Name=f"a{n}", FunctionVersion="1")
    alias_pages = list(client.get_paginator("list_aliases").paginate(FunctionName="api-page-0",
                                                                     PaginationConfig={"PageSize": 2}))
    assert [[a["Name"] for a in page["Aliases"]] for page in alias_pages] == [["a0", "a1"], ["a2"]]
    version_pages = list(client.get_paginator("list_versions_by_function").paginate(
        FunctionName="api-page-0", PaginationConfig={"PageSize": 1}))
    assert [[v["Version"] for v in page["Versions"]] for page in version_pages] == [["$LATEST"], ["1"]]
    every = client.list_functions(FunctionVersion="ALL", MaxItems=1000)["Functions"]
    assert {(f["FunctionName"], f["Version"]) for f in every} >= {("api-page-0", "$LATEST"), ("api-page-0", "1")}


# -- the AWS CLI -------------------------------------------------------------------------------------------------


def test_aws_cli(serve: Serve, tmp_path: Path) -> None:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=serve.key["access_key_id"],
               AWS_SECRET_ACCESS_KEY=serve.key["secret_access_key"], AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
    env.pop("AWS_PROFILE", None)

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "awscli", "lambda", *args, "--endpoint-url", serve.process.control]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)

    zipped = tmp_path / "fns.zip"
    zipped.write_bytes(package())
    created = aws("create-function", "--function-name", "api-cli", "--runtime", "python3.12", "--role", ROLE,
                  "--handler", "fns.echo", "--zip-file", f"fileb://{zipped}")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["FunctionName"] == "api-cli"

    result = aws("invoke", "--function-name", "api-cli", "--payload", '{"from": "cli"}', "--log-type", "Tail",
                 str(tmp_path / "out.json"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["StatusCode"] == 200 and summary["ExecutedVersion"] == "$LATEST"
    assert "REPORT RequestId:" in base64.b64decode(summary["LogResult"]).decode()
    assert json.loads((tmp_path / "out.json").read_text())["event"] == {"from": "cli"}

    listed = aws("list-functions", "--query", "Functions[].FunctionName", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    assert "api-cli" in json.loads(listed.stdout)

    missing = aws("get-function", "--function-name", "api-cli-ghost")
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr and "api-cli-ghost" in missing.stderr
