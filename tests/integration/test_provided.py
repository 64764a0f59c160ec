"""``runtime = "provided"``: bootstraps that nobody here wrote the client side of — a Go program on net/http, AWS's
Python ``awslambdaric`` and AWS's Node ``aws-lambda-ric`` — running against Hearth's Runtime API, with the pool's
semantics (cold/warm, errors, crashes, timeouts, limits, logs)."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import re
import shutil
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PROJECTS, HearthProcess, Serve, pid_alive, poll
from runtime_tools import go_bootstrap, node_ric_dir, require_tool, ric_python

ROLE = "arn:aws:iam::000000000000:role/hearth-function"
GO_MANIFEST = """
[functions.go]
runtime = "provided.al2023"
timeout_s = 2
memory_mb = 128

[functions.go-init-fails]
runtime = "provided"
env = { FAIL_INIT = "1" }

# Running out of 128 MB takes ~0.2 s of CPU: ~3 s at 128 MB's CPU share (memory_mb / 1769 of a core)
[functions.go-hog]
runtime = "provided"
memory_mb = 128
timeout_s = 20

[[routes]]
path = "/go"
function = "go"
"""


def invoke(hearth: HearthProcess, function: str, event: Any) -> httpx.Response:
    return httpx.post(f"{hearth.control}/2015-03-31/functions/{function}/invocations", json=event, timeout=30)


@pytest.fixture(scope="module")
def go(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HearthProcess]:
    require_tool("go")
    root = tmp_path_factory.mktemp("go")
    go_bootstrap(PROJECTS / "provided_go", root)
    (root / "hearth.toml").write_text(GO_MANIFEST)
    hearth = HearthProcess(root, "--no-watch").start()
    yield hearth
    hearth.stop()


def test_go_bootstrap_gets_event_headers_and_environment(go: HearthProcess) -> None:
    before = time.time()
    response = invoke(go, "go", {"hello": "world"})
    assert response.status_code == 200, response.text
    body = response.json()
    request_id = response.headers["x-amzn-requestid"]
    assert body["echo"] == {"hello": "world"}
    assert body["request_id"] == request_id
    assert body["function"] == "go" and body["version"] == "$LATEST" and body["memory"] == "128"
    assert body["handler"] == "bootstrap" and body["region"] == "us-east-1"
    assert body["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:go"
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", body["trace_id"])
    assert before + 1.5 < body["deadline_ms"] / 1000 < time.time() + 2.5  # timeout_s = 2
    assert Path(body["task_root"]) == Path(body["cwd"]) == go.project
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", body["log_stream"])


def test_cold_then_warm_on_one_process(go: HearthProcess) -> None:
    first = invoke(go, "go", {"n": 1})
    second = invoke(go, "go", {"n": 2})
    assert first.json()["pid"] == second.json()["pid"]
    assert second.json()["invocations"] == first.json()["invocations"] + 1
    warm = go.record(second.headers["x-amzn-requestid"])
    assert warm["init_ms"] is None and warm["status"] == "success"


def test_first_invocation_reports_init_duration(tmp_path: Path) -> None:
    require_tool("go")
    go_bootstrap(PROJECTS / "provided_go", tmp_path)
    (tmp_path / "hearth.toml").write_text(GO_MANIFEST)
    hearth = HearthProcess(tmp_path, "--no-watch").start()
    try:
        response = invoke(hearth, "go", {})
        record = hearth.record(response.headers["x-amzn-requestid"])
        assert record["init_ms"] is not None and 0 < record["init_ms"] < 2000
        assert record["max_memory_mb"] >= 1  # the bootstrap's VmHWM
    finally:
        hearth.stop()


def test_through_the_gateway(go: HearthProcess) -> None:
    response = httpx.get(f"{go.gateway}/go", params={"q": "1"}, timeout=30)
    assert response.status_code == 200
    event = response.json()["echo"]
    assert event["rawPath"] == "/go" and event["queryStringParameters"] == {"q": "1"}


def test_reported_error_keeps_the_instance(go: HearthProcess) -> None:
    pid = invoke(go, "go", {}).json()["pid"]
    failed = invoke(go, "go", {"action": "error"})
    assert failed.status_code == 200
    assert failed.headers["x-amz-function-error"] == "Unhandled"
    assert failed.json() == {"errorType": "GoError", "errorMessage": "go failed on purpose", "stackTrace": []}
    assert invoke(go, "go", {}).json()["pid"] == pid
    assert go.record(failed.headers["x-amzn-requestid"])["status"] == "error"


def test_chunked_response_with_trailer(go: HearthProcess) -> None:
    body = invoke(go, "go", {"action": "chunked"}).json()
    assert body["chunked"] is True and len(body["pad"]) == body["size"] == 200 * 1024


def test_response_over_6_mb_fails_the_invocation(go: HearthProcess) -> None:
    failed = invoke(go, "go", {"action": "big", "bytes": 7 * 1024 * 1024})
    assert failed.headers["x-amz-function-error"] == "Unhandled"
    assert failed.json()["errorType"] == "Function.ResponseSizeTooLarge"
    assert "6291456 bytes" in failed.json()["errorMessage"]
    # The runtime was answered 413 (this one exits on any unexpected status); the function goes on serving.
    assert invoke(go, "go", {}).json()["echo"] == {}


def test_exit_mid_invocation_is_exit_error_and_next_call_is_cold(go: HearthProcess) -> None:
    pid = invoke(go, "go", {}).json()["pid"]
    crashed = invoke(go, "go", {"action": "exit"})
    assert crashed.json()["errorType"] == "Runtime.ExitError"
    assert crashed.json()["errorMessage"] == "Runtime exited with error: exit status 3"
    assert go.record(crashed.headers["x-amzn-requestid"])["status"] == "crash"
    assert poll(lambda: not pid_alive(pid), 5)
    after = invoke(go, "go", {})
    assert after.json()["pid"] != pid and go.record(after.headers["x-amzn-requestid"])["init_ms"] is not None


def test_timeout_kills_the_bootstrap(go: HearthProcess) -> None:
    pid = invoke(go, "go", {}).json()["pid"]
    slow = invoke(go, "go", {"action": "sleep", "ms": 10_000})
    assert slow.json()["errorType"] == "Sandbox.Timedout"
    assert slow.json()["errorMessage"] == "Task timed out after 2.00 seconds"
    assert poll(lambda: not pid_alive(pid), 5)


def test_memory_overrun_is_out_of_memory(go: HearthProcess) -> None:
    assert invoke(go, "go-hog", {"action": "alloc", "ms": 16}).status_code == 200  # under 128 MB is fine
    failed = invoke(go, "go-hog", {"action": "alloc", "ms": 400})
    assert failed.json()["errorType"] == "Runtime.OutOfMemory"
    assert go.record(failed.headers["x-amzn-requestid"])["status"] == "oom"
    assert invoke(go, "go-hog", {}).status_code == 200


def test_memory_limit_with_the_rlimit_fallback(tmp_path: Path) -> None:
    require_tool("go")
    go_bootstrap(PROJECTS / "provided_go", tmp_path)
    (tmp_path / "hearth.toml").write_text(GO_MANIFEST)
    hearth = HearthProcess(tmp_path, "--no-watch", "--memory-enforcement", "rlimit").start()
    try:  # RLIMIT_DATA, not RLIMIT_AS: Go reserves address space it never uses, and still starts
        assert invoke(hearth, "go-hog", {"action": "alloc", "ms": 16}).json()["echo"] == {"action": "alloc",
                                                                                          "ms": 16}
        failed = invoke(hearth, "go-hog", {"action": "alloc", "ms": 400})
        assert failed.json()["errorType"] == "Runtime.ExitError"  # Go's own "out of memory" exit
        assert invoke(hearth, "go-hog", {}).status_code == 200
    finally:
        hearth.stop()


def test_init_error_reported_by_the_runtime(go: HearthProcess) -> None:
    failed = invoke(go, "go-init-fails", {})
    assert failed.headers["x-amz-function-error"] == "Unhandled"
    assert failed.json()["errorType"] == "Runtime.GoInitError"
    assert failed.json()["errorMessage"] == "init failed on purpose"
    assert go.instances("go-init-fails") == []


def test_one_invocation_per_instance(go: HearthProcess) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: invoke(go, "go", {"action": "sleep", "ms": 300}).json(), range(4)))
    assert len({result["pid"] for result in results}) == 4


def test_output_lands_in_its_invocation(go: HearthProcess) -> None:
    response = invoke(go, "go", {})
    request_id = response.headers["x-amzn-requestid"]
    assert f"go handled {request_id}" in go.record(request_id)["log_lines"]
    go.wait_for(lambda: f"END RequestId: {request_id}" in go.stdout, 10, "the END line")
    start = go.stdout.index(f"START RequestId: {request_id} Version: $LATEST")
    end = go.stdout.index(f"END RequestId: {request_id}")
    assert f"go handled {request_id}" in go.stdout[start:end]


def test_out_of_order_calls_get_the_runtime_api_errors(tmp_path: Path) -> None:
    shutil.copytree(PROJECTS / "provided_probe", tmp_path / "probe")
    root = tmp_path / "probe"
    (root / "hearth.toml").write_text(f'[functions.probe]\nruntime = "provided"\n'
                                      f'env = {{ HEARTH_TEST_PYTHON = "{sys.executable}" }}\n')
    hearth = HearthProcess(root, "--no-watch").start()
    try:
        seen = invoke(hearth, "probe", {}).json()
        assert seen["early_response"] == {"status": 400, "errorType": "InvalidRequestID"}
        assert seen["next_during_invocation"] == {"status": 403, "errorType": "InvalidStateTransition"}
        assert seen["wrong_id"] == {"status": 400, "errorType": "InvalidRequestID"}
        assert seen["init_error_after_init"] == {"status": 403, "errorType": "InvalidStateTransition"}
        assert seen["unknown_path"]["status"] == 404 and seen["wrong_method"]["status"] == 405
        assert seen["next_headers"] == ["lambda-runtime-aws-request-id", "lambda-runtime-deadline-ms",
                                        "lambda-runtime-invoked-function-arn", "lambda-runtime-trace-id"]
        context = base64.b64encode(b'{"custom": {"app": "probe"}}').decode()
        again = httpx.post(f"{hearth.control}/2015-03-31/functions/probe/invocations", json={}, timeout=30,
                           headers={"X-Amz-Client-Context": context}).json()
        assert again["previous_response"] == {"status": 202, "errorType": None}
        assert again["second_answer"] == {"status": 403, "errorType": "InvalidStateTransition"}
        assert again["client_context"] == '{"custom": {"app": "probe"}}'
        refused = httpx.post(f"{hearth.control}/2015-03-31/functions/probe/invocations", json={}, timeout=30,
                             headers={"X-Amz-Client-Context": "not base64 json"})
        assert refused.status_code == 400 and refused.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    finally:
        hearth.stop()


def test_awslambdaric_runs_a_python_handler(tmp_path: Path) -> None:
    python = ric_python()
    root = tmp_path / "ric"
    shutil.copytree(PROJECTS / "provided_python", root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "hearth.toml").write_text(f'[functions.ric]\nruntime = "provided.al2023"\nhandler = "app.handler"\n'
                                      f'env = {{ HEARTH_TEST_PYTHON = "{python}" }}\n')
    hearth = HearthProcess(root, "--no-watch").start()
    try:
        _check_ric(hearth, "python", "ValueError")
    finally:
        hearth.stop()


def test_node_aws_lambda_ric_runs_a_node_handler(tmp_path: Path) -> None:
    node = require_tool("node")
    require_tool("npm")
    modules = node_ric_dir()
    root = tmp_path / "node"
    shutil.copytree(PROJECTS / "provided_node", root)
    (root / "hearth.toml").write_text(f'[functions.ric]\nruntime = "provided.al2023"\nhandler = "index.handler"\n'
                                      f'timeout_s = 10\nmemory_mb = 256\n'
                                      f'env = {{ NODE_RIC_DIR = "{modules}", HEARTH_TEST_NODE = "{node}" }}\n')
    hearth = HearthProcess(root, "--no-watch").start()
    try:
        _check_ric(hearth, "node", "Error")
    finally:
        hearth.stop()


def _check_ric(hearth: HearthProcess, language: str, error_type: str) -> None:
    first = invoke(hearth, "ric", {"n": 1})
    assert first.status_code == 200 and "x-amz-function-error" not in first.headers, first.text
    body = first.json()
    request_id = first.headers["x-amzn-requestid"]
    assert body["echo"] == {"n": 1} and body["request_id"] == request_id and body["function"] == "ric"
    assert body["time_left_positive"] is True
    lines = hearth.record(request_id)["log_lines"]  # Node's console.log adds a timestamp, the id and the level
    assert any(line.endswith(f"{language} handled {request_id}") for line in lines), lines  # type: ignore[attr-defined]
    failed = invoke(hearth, "ric", {"fail": "yes"})
    assert failed.headers["x-amz-function-error"] == "Unhandled"
    assert failed.json()["errorType"] == error_type
    assert f"{language} failed on purpose: yes" in failed.json()["errorMessage"]
    assert invoke(hearth, "ric", {"n": 2}).json()["pid"] == body["pid"]  # warm, after a handled error


# -- through the Lambda API (hearth serve): packages, exec bits, missing bootstraps ------------------------------------


def _zip(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3
            archive.writestr(info, data)
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Serve]:
    serve = Serve(tmp_path / "data")
    yield serve
    serve.stop()


def test_create_function_with_a_zipped_go_bootstrap(served: Serve, tmp_path: Path) -> None:
    require_tool("go")
    binary = go_bootstrap(PROJECTS / "provided_go", tmp_path / "build").read_bytes()
    client = served.client()
    package = _zip({"bootstrap": (binary, 0o755)})
    client.create_function(FunctionName="zipped", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                           Code={"ZipFile": package})
    result = client.invoke(FunctionName="zipped", Payload=b'{"from": "boto3"}')
    assert "FunctionError" not in result
    assert json.loads(result["Payload"].read())["echo"] == {"from": "boto3"}
    assert client.get_function(FunctionName="zipped")["Configuration"]["Runtime"] == "provided.al2023"


@pytest.mark.parametrize(("files", "message"), [
    ({"main.sh": (b"#!/bin/sh\n", 0o755)}, "Couldn't find valid bootstrap(s)"),
    ({"bootstrap": (b"#!/bin/sh\n", 0o644)}, "is not executable"),
])
def test_missing_or_unexecutable_bootstrap(served: Serve, files: dict[str, tuple[bytes, int]], message: str) -> None:
    client = served.client()
    client.create_function(FunctionName="broken", Runtime="provided.al2", Handler="bootstrap",
                           Role=ROLE, Code={"ZipFile": _zip(files)})
    result = client.invoke(FunctionName="broken", Payload=b"{}")
    assert result["FunctionError"] == "Unhandled"
    error = json.loads(result["Payload"].read())
    assert error["errorType"] == "Runtime.InvalidEntrypoint" and message in error["errorMessage"]


def test_bootstrap_that_exits_during_init(served: Serve) -> None:
    client = served.client()
    script = b"#!/bin/sh\necho 'cannot start: no config' >&2\nexit 4\n"
    client.create_function(FunctionName="quits", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                           Code={"ZipFile": _zip({"bootstrap": (script, 0o755)})})
    result = client.invoke(FunctionName="quits", Payload=b"{}", LogType="Tail")
    error = json.loads(result["Payload"].read())
    assert error == {"errorType": "Runtime.ExitError", "errorMessage": "Runtime exited with error: exit status 4",
                     "stackTrace": []}


def test_handler_rules_follow_the_runtime(served: Serve) -> None:
    client = served.client()
    code = {"ZipFile": _zip({"bootstrap": (b"#!/bin/sh\n", 0o755)})}
    client.create_function(FunctionName="spaces", Runtime="provided.al2023", Handler="my.handler",
                           Role=ROLE, Code=code)
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="without spaces"):
        client.update_function_configuration(FunctionName="spaces", Handler="two words")
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="module.function"):
        client.update_function_configuration(FunctionName="spaces", Runtime="python3.12", Handler="bootstrap")
