"""``hearth logs`` on a real ``hearth serve``: records of every trigger, the output formats, filters, ``--follow``
and logs surviving a restart."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Serve, poll
from prometheus_client.parser import text_string_to_metric_families

APP = '''
def web(event, context):
    print("web line " + event["rawPath"])
    return {"statusCode": 200, "body": "ok"}

def echo(event, context):
    print("echo line " + event.get("tag", ""))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return event

def work(event, context):
    for record in event["Records"]:
        print("queue line " + record["body"])
    return {}
'''

MANIFEST = '''
[queues.jobs]

[functions.web]
handler = "app.web"

[functions.echo]
handler = "app.echo"

[functions.echo.async]
maximum_retry_attempts = 0

[functions.worker]
handler = "app.work"

[[functions.worker.queues]]
queue = "jobs"
batch_size = 1

[[routes]]
path = "/web/{rest+}"
function = "web"
'''
FOLLOW_TIMEOUT_S = 15.0


def deploy(serve: Serve, root: Path) -> None:
    project = root / "logs-app"
    project.mkdir(exist_ok=True)
    (project / "app.py").write_text(APP)
    (project / "hearth.toml").write_text(MANIFEST)
    serve.deploy(project)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    root = tmp_path_factory.mktemp("serve-logs")
    with Serve(root / "data", "--quiet") as running:
        deploy(running, root)
        yield running


def invoke(serve: Serve, function: str, **event: Any) -> str:
    reply = serve.client().invoke(FunctionName=function, Payload=json.dumps(event).encode())
    return str(reply["ResponseMetadata"]["RequestId"])


def logs(serve: Serve, *args: str) -> str:
    result = serve.cli("logs", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def entries(serve: Serve, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs(serve, *args, "--json").splitlines()]


def test_records_of_every_trigger_appear(serve: Serve) -> None:
    http_rid = serve.gateway.get("/web/page-1").headers["x-amzn-requestid"]
    invoke_rid = invoke(serve, "echo", tag="sync-1")
    serve.client().invoke(FunctionName="echo", InvocationType="Event", Payload=b'{"tag": "async-1"}')
    sqs = serve.sqs()
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="jobs")["QueueUrl"], MessageBody="job-1")

    def lines() -> set[str]:
        found = serve.native("/hearth/logs", limit="1000")
        return {line["message"] for entry in found for line in entry["lines"]}

    assert poll(lambda: {"echo line async-1", "queue line job-1"} <= lines(), 20)
    text = logs(serve).splitlines()  # every function: each line prefixed with its function
    assert "[web] web line /web/page-1" in text
    assert f"[web] START RequestId: {http_rid} Version: $LATEST" in text
    assert "[echo] echo line sync-1" in text
    assert "[echo] echo line async-1" in text
    assert "[worker] queue line job-1" in text
    assert any(line.startswith(f"[echo] REPORT RequestId: {invoke_rid}\tDuration: ") for line in text)
    triggers = {entry["function"]: set() for entry in entries(serve)}
    for entry in entries(serve):
        triggers[entry["function"]].add(entry["trigger"])
    assert triggers == {"web": {"http"}, "echo": {"invoke", "async"}, "worker": {"queue"}}


def test_one_function_as_the_console_prints_it(serve: Serve) -> None:
    rid = invoke(serve, "echo", tag="plain")
    text = logs(serve, "echo", "--request-id", rid).splitlines()
    assert text[:3] == [f"START RequestId: {rid} Version: $LATEST", "echo line plain", f"END RequestId: {rid}"]
    assert text[3].startswith(f"REPORT RequestId: {rid}\tDuration: ") and len(text) == 4


def test_json_shape(serve: Serve) -> None:
    rid = invoke(serve, "echo", tag="json")
    [entry] = entries(serve, "echo", "--request-id", rid)
    assert entry["type"] == "invocation" and entry["request_id"] == rid and entry["status"] == "success"
    assert {"function", "version", "trigger", "start", "time", "duration_ms", "billed_ms", "memory_mb",
            "max_memory_mb", "init_ms", "error_type", "cold"} <= set(entry)
    assert [line["message"] for line in entry["lines"]][1] == "echo line json"
    assert all(entry["start"] <= line["time"] <= entry["time"] for line in entry["lines"])


def test_lambda_json_shape(serve: Serve) -> None:
    rid = invoke(serve, "echo", tag="lambda")
    events = [json.loads(line) for line in logs(serve, "echo", "--request-id", rid, "--format", "lambda-json")
              .splitlines()]
    types = [event["type"] for event in events]
    assert types[types.index("platform.start"):] == ["platform.start", "function", "platform.runtimeDone",
                                                     "platform.report"]
    start, report = events[types.index("platform.start")], events[-1]
    assert start["record"] == {"requestId": rid, "version": "$LATEST"}
    assert events[types.index("function", types.index("platform.start"))]["message"] == "echo line lambda"
    assert report["record"]["requestId"] == rid and report["record"]["status"] == "success"
    assert {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"} <= set(report["record"]["metrics"])
    assert report["time"].endswith("Z") and "T" in report["time"]


def test_status_filter(serve: Serve) -> None:
    good = invoke(serve, "echo", tag="fine")
    bad = invoke(serve, "echo", tag="broken", fail=True)
    found = entries(serve, "echo", "--status", "error")
    assert bad in {entry["request_id"] for entry in found}
    assert good not in {entry["request_id"] for entry in found}
    assert {entry["status"] for entry in found} == {"error"}
    assert any("asked to fail" in line["message"] for entry in found for line in entry["lines"])


def test_since(serve: Serve) -> None:
    first = invoke(serve, "echo", tag="before")
    [entry] = entries(serve, "echo", "--request-id", first)
    second = invoke(serve, "echo", tag="after")
    later = {e["request_id"] for e in entries(serve, "echo", "--since", str(entry["time"] + 0.001))}
    assert second in later and first not in later
    assert {first, second} <= {e["request_id"] for e in entries(serve, "echo", "--since", "10m")}


def test_follow_sees_a_new_invocation(serve: Serve) -> None:
    before = invoke(serve, "echo", tag="backlog")
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HEARTH_TOKEN", "HEARTH_ENDPOINT")}
    command = [sys.executable, "-m", "hearth", "logs", "echo", "--follow", "--limit", "5", "--endpoint",
               serve.process.control, "--data-dir", str(serve.data_dir)]
    follow = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert follow.stdout is not None
        for line in follow.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def wait_for_line(prefix: str) -> None:
        deadline = time.monotonic() + FOLLOW_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line starting with {prefix!r} within {FOLLOW_TIMEOUT_S} s"
            try:
                if lines.get(timeout=remaining).startswith(prefix):
                    return
            except queue.Empty:
                continue

    try:
        wait_for_line(f"END RequestId: {before}")  # the backlog: the stream is live
        after = invoke(serve, "echo", tag="live")
        wait_for_line(f"REPORT RequestId: {after}")
    finally:
        follow.send_signal(signal.SIGINT)
        try:
            code = follow.wait(15)
        except subprocess.TimeoutExpired:
            follow.kill()
            follow.wait(5)
            raise
        reader.join(5)
        assert follow.stderr is not None
        stderr = follow.stderr.read()
        follow.stdout.close()  # type: ignore[union-attr]
        follow.stderr.close()
    assert code == 0, stderr


def test_logs_survive_a_restart(tmp_path: Path) -> None:
    first = Serve(tmp_path / "data", "--quiet")
    try:
        deploy(first, tmp_path)
        rid = invoke(first, "echo", tag="durable")
    finally:
        first.stop()
    again = Serve(tmp_path / "data", "--quiet")
    try:
        assert "echo line durable" in logs(again, "echo", "--request-id", rid).splitlines()
        assert list((tmp_path / "data" / "logs").glob("*.jsonl"))
    finally:
        again.stop()


def test_an_unwritable_log_folder_drops_and_counts_but_serves(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "logs").write_text("a file where the log folder should be")
    serve = Serve(tmp_path / "data", "--quiet")
    try:
        deploy(serve, tmp_path)
        reply = serve.client().invoke(FunctionName="echo", Payload=b'{"tag": "x"}')
        assert json.loads(reply["Payload"].read()) == {"tag": "x"}

        def dropped() -> float:
            reply = httpx.get(f"{serve.process.control}/metrics", timeout=30,
                              headers={"Authorization": f"Bearer {serve.key['token']}"})
            return next(sample.value for family in text_string_to_metric_families(reply.text)
                        for sample in family.samples
                        if sample.name == "hearth_log_records_dropped_total"
                        and sample.labels["reason"] == "unwritable")

        assert poll(lambda: dropped() >= 1, 10)
        assert serve.native("/hearth/logs") == []
    finally:
        serve.stop()
