"""The Python runtime's Lambda semantics over real HTTP: instances, state, context, limits and failures."""

from __future__ import annotations

import os
import threading

import httpx
import pytest
from conftest import PROJECTS, HearthProcess, pid_alive, poll


def test_warm_instance_keeps_module_state(core: HearthProcess, gateway: httpx.Client) -> None:
    first = gateway.get("/counter").json()
    second = gateway.get("/counter").json()
    assert second["pid"] == first["pid"]
    assert second["calls"] == first["calls"] + 1
    assert [i["state"] for i in core.instances("counter")] == ["idle"]


def test_instances_run_as_batch_tasks(core: HearthProcess, gateway: httpx.Client) -> None:
    pid = gateway.get("/counter").json()["pid"]
    assert os.sched_getscheduler(pid) == os.SCHED_BATCH  # a woken instance does not preempt the gateway


def test_cold_then_warm_records(core: HearthProcess, gateway: httpx.Client) -> None:
    cold = gateway.get("/pkg")
    warm = gateway.get("/pkg")
    assert cold.json() == {"from": "pkg.sub.mod"}
    cold_record = core.record(cold.headers["x-amzn-requestid"])
    warm_record = core.record(warm.headers["x-amzn-requestid"])
    assert cold_record["cold"] is True and cold_record["init_ms"] > 0
    assert warm_record["cold"] is False and warm_record["init_ms"] is None
    assert warm_record["status"] == "success" and warm_record["function"] == "pkg"
    assert warm_record["version"] == "$LATEST" and warm_record["memory_mb"] == 128


def test_async_handler(gateway: httpx.Client) -> None:
    response = gateway.get("/aio")
    assert response.json() == {"async": True, "request_id": response.headers["x-amzn-requestid"]}


def test_context_and_environment(gateway: httpx.Client) -> None:
    response = gateway.get("/context")
    info = response.json()
    assert info["aws_request_id"] == response.headers["x-amzn-requestid"]
    assert info["function_name"] == "context" and info["function_version"] == "$LATEST"
    assert info["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:context"
    assert info["memory_limit_in_mb"] == "256"
    assert info["log_group_name"] == "/aws/lambda/context"
    assert "[$LATEST]" in info["log_stream_name"]
    assert 0 < info["remaining_ms"] <= 5000
    assert info["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "context"
    assert info["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert info["env"]["_HANDLER"] == "fns.context_info" and info["env"]["TZ"] == ":UTC"
    assert info["cwd"] == str(PROJECTS / "core") == info["env"]["LAMBDA_TASK_ROOT"]


def test_function_env_applied_and_host_env_not_leaked(gateway: httpx.Client) -> None:
    body = gateway.get("/echo/x").json()
    assert body["greeting"] == "hi"
    assert body["host_secret"] is None


def test_handler_exception_has_lambda_shape_and_instance_survives(gateway: httpx.Client) -> None:
    first = gateway.get("/boom")
    assert first.status_code == 502
    assert first.headers["x-amz-function-error"] == "Unhandled"
    body = first.json()
    assert body["errorType"] == "Custom"
    assert body["errorMessage"] == "it went wrong on purpose"
    assert any("fns.py" in line and "in boom" in line for line in body["stackTrace"])
    assert not any("hearth" in line for line in body["stackTrace"])


@pytest.mark.parametrize("path, error_type, message", [
    ("/nomodule", "Runtime.ImportModuleError", "Unable to import module 'nosuchmodule'"),
    ("/nohandler", "Runtime.HandlerNotFound", "Handler 'nosuchhandler' missing on module 'fns'"),
    ("/syntax", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken_syntax'"),
    ("/initfail", "RuntimeError", "configuration missing at import"),
])
def test_init_failures(core: HearthProcess, gateway: httpx.Client, path: str, error_type: str,
                       message: str) -> None:
    response = gateway.get(path)
    assert response.status_code == 502
    assert response.json()["errorType"] == error_type
    assert message in response.json()["errorMessage"]
    assert core.instances(path.strip("/")) == []  # a failed init leaves no instance behind


def test_unmarshalable_result(gateway: httpx.Client) -> None:
    response = gateway.get("/unmarshalable")
    assert response.status_code == 502
    assert response.json()["errorType"] == "Runtime.MarshalError"


def test_timeout_kills_instance_and_next_call_is_fresh(core: HearthProcess, gateway: httpx.Client) -> None:
    warm = gateway.get("/slow?s=0").json()
    response = gateway.get("/slow?s=5")
    assert response.status_code == 504
    assert response.json()["errorType"] == "Sandbox.Timedout"
    assert response.json()["errorMessage"] == "Task timed out after 1.00 seconds"
    assert core.record(response.headers["x-amzn-requestid"])["status"] == "timeout"
    assert poll(lambda: not pid_alive(warm["pid"]), 5)
    again = gateway.get("/slow?s=0")
    assert again.status_code == 200 and again.json()["pid"] != warm["pid"]


def test_memory_overrun_stops_instance(core: HearthProcess, gateway: httpx.Client) -> None:
    assert gateway.get("/hog?mb=16").status_code == 200  # under the limit is fine
    response = gateway.get("/hog?mb=400")
    assert response.status_code == 502
    assert response.json()["errorType"] == "Runtime.OutOfMemory"
    assert core.record(response.headers["x-amzn-requestid"])["status"] == "oom"
    assert gateway.get("/hog?mb=16").status_code == 200
    assert gateway.get("/counter").status_code == 200


def test_memory_overrun_with_rlimit_fallback() -> None:
    hearth = HearthProcess(PROJECTS / "core", "--no-watch", "--quiet", "--memory-enforcement", "rlimit").start()
    try:
        health = httpx.get(f"{hearth.control}/hearth/health").json()
        assert health["memory_enforcement"].startswith("RLIMIT_AS")
        response = httpx.get(f"{hearth.gateway}/hog?mb=400", timeout=30)
        assert response.status_code == 502
        assert response.json()["errorType"] == "Runtime.OutOfMemory"
        assert httpx.get(f"{hearth.gateway}/hog?mb=16", timeout=30).status_code == 200
    finally:
        hearth.stop()


@pytest.mark.parametrize("how, message", [
    ("exit", "Runtime exited with error: exit status 3"),
    ("sysexit", "Runtime exited with error: exit status 4"),
    ("segv", "Runtime exited with error: signal: segmentation fault"),
])
def test_crash_is_exit_error(core: HearthProcess, gateway: httpx.Client, how: str, message: str) -> None:
    response = gateway.get(f"/crash?how={how}")
    assert response.status_code == 502
    assert response.json()["errorType"] == "Runtime.ExitError"
    assert response.json()["errorMessage"] == message
    assert core.record(response.headers["x-amzn-requestid"])["status"] == "crash"
    assert core.instances("crash") == []
    assert gateway.get("/counter").status_code == 200


def test_throttle_at_concurrency_limit(core: HearthProcess) -> None:
    results: list[int] = []

    def call() -> None:
        results.append(httpx.get(f"{core.gateway}/limited?s=3", timeout=30).status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert poll(lambda: [i["state"] for i in core.instances("limited")].count("busy") == 2, 10)
    throttled = httpx.get(f"{core.gateway}/limited?s=0", timeout=30)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert throttled.json()["errorType"] == "TooManyRequestsException"
    assert "concurrency limit of 2" in throttled.json()["errorMessage"]
    for thread in threads:
        thread.join(30)
    assert results == [200, 200]
    assert httpx.get(f"{core.gateway}/limited?s=0", timeout=30).status_code == 200


def test_concurrency_zero_disables(gateway: httpx.Client) -> None:
    response = gateway.get("/disabled")
    assert response.status_code == 429
    assert response.json()["errorType"] == "TooManyRequestsException"


def test_idle_instance_is_stopped(core: HearthProcess, gateway: httpx.Client) -> None:
    pid = gateway.get("/brief").json()["pid"]
    assert pid_alive(pid)
    assert poll(lambda: core.instances("brief") == [] and not pid_alive(pid), 5)


def test_one_invocation_per_instance(core: HearthProcess) -> None:
    pids: list[int] = []

    def call() -> None:
        pids.append(httpx.get(f"{core.gateway}/limited?s=0.5", timeout=30).json()["pid"])

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(set(pids)) == 2  # two concurrent calls never share an instance


def test_instance_killed_from_outside_is_exit_error_not_oom(core: HearthProcess) -> None:
    import os
    import signal

    result: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: result.append(httpx.get(f"{core.gateway}/limited?s=5", timeout=30)))
    thread.start()
    assert poll(lambda: any(i["state"] == "busy" for i in core.instances("limited")), 10)
    pid = next(i["pid"] for i in core.instances("limited") if i["state"] == "busy")
    os.kill(pid, signal.SIGKILL)
    thread.join(30)
    assert result[0].status_code == 502
    assert result[0].json()["errorType"] == "Runtime.ExitError"
    assert result[0].json()["errorMessage"] == "Runtime exited with error: signal: killed"
