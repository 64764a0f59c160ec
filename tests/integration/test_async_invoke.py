"""Asynchronous invocations (InvocationType Event) on ``hearth serve``: stored before the 202, run with Lambda's
retries, and never lost — not even when the platform is killed with SIGKILL over and over."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Serve, poll

RETRY_DELAY_S = 0.3

HANDLERS = '''
import json, os, time

def record(event, context):
    """Appends one line per attempt: the event's id, the request id and the attempt's remaining time."""
    line = json.dumps({"id": event.get("id"), "request_id": context.aws_request_id, "at": time.time(),
                       "path": event.get("rawPath"), "body": event.get("body")})
    fd = os.open(os.environ["OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    time.sleep(event.get("sleep", 0))
    return {"ok": event.get("id")}


def drain(event, context):
    """A queue's batch: one line per message, as record() writes one per event."""
    for message in event["Records"]:
        record(json.loads(message["body"]), context)
'''


def project(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "asyncapp"
    root.mkdir()
    out = tmp_path / "attempts.jsonl"
    (root / "app.py").write_text(HANDLERS)
    (root / "hearth.toml").write_text(f'[functions.record]\nhandler = "app.record"\ntimeout_s = 10\n'
                                      f'env = {{ OUT = "{out}" }}\n\n'
                                      '[[routes]]\npath = "/hook/{id}"\nmethods = ["POST"]\nfunction = "record"\n'
                                      'async = true\n\n'
                                      '[queues.work]\nvisibility_timeout_s = 10\n\n'
                                      f'[functions.drain]\nhandler = "app.drain"\ntimeout_s = 10\n'
                                      f'env = {{ OUT = "{out}" }}\n\n'
                                      '[[functions.drain.queues]]\nqueue = "work"\nbatch_size = 5\n')
    return root, out


def attempts(out: Path) -> list[dict[str, object]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Serve, Path]]:
    root, out = project(tmp_path)
    serve = Serve(tmp_path / "data", "--async-retry-delay", str(RETRY_DELAY_S))
    serve.deploy(root)
    yield serve, out
    serve.stop()


def test_an_event_invocation_answers_202_and_runs_once(served: tuple[Serve, Path]) -> None:
    serve, out = served
    reply = serve.client().invoke(FunctionName="record", InvocationType="Event", Payload=json.dumps({"id": "one"}))
    assert reply["StatusCode"] == 202
    request_id = reply["ResponseMetadata"]["RequestId"]
    assert poll(lambda: len(attempts(out)) == 1, 10)
    [attempt] = attempts(out)
    assert attempt["id"] == "one" and attempt["request_id"] == request_id
    record = serve.native("/hearth/invocations", request_id=request_id)["invocations"][0]
    assert record["trigger"] == "async" and record["status"] == "success"
    time.sleep(RETRY_DELAY_S * 2)  # a wrongly retried success would have run again by now
    assert len(attempts(out)) == 1


def test_a_failing_event_is_retried_twice_with_growing_delays(served: tuple[Serve, Path]) -> None:
    serve, out = served
    reply = serve.client().invoke(FunctionName="record", InvocationType="Event",
                                  Payload=json.dumps({"id": "bad", "fail": True}))
    request_id = reply["ResponseMetadata"]["RequestId"]
    assert poll(lambda: len(attempts(out)) == 3, 15)
    tried = attempts(out)
    assert {a["request_id"] for a in tried} == {request_id}  # one id across attempts
    times = [float(str(a["at"])) for a in tried]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert gaps[0] >= RETRY_DELAY_S and gaps[1] >= 2 * RETRY_DELAY_S, gaps
    serve.process.wait_for(lambda: any("given up (RetriesExhausted after 3 attempts)" in line
                                       for line in serve.process.stderr), 10, "the give-up note")
    time.sleep(RETRY_DELAY_S * 5)
    assert len(attempts(out)) == 3  # retries are exhausted: no fourth


def test_a_throttled_event_waits_without_spending_an_attempt(served: tuple[Serve, Path]) -> None:
    """With one unit of concurrency held by a slow call, the event is throttled: it waits and then gets all its
    attempts (one retry allowed: a failing event runs twice). Had the throttle counted, it would run once."""
    serve, out = served
    client = serve.client()
    client.put_function_concurrency(FunctionName="record", ReservedConcurrentExecutions=1)
    client.put_function_event_invoke_config(FunctionName="record", MaximumRetryAttempts=1)
    slow = threading.Thread(target=lambda: client.invoke(FunctionName="record",
                                                         Payload=json.dumps({"id": "slow", "sleep": 1.5})))
    slow.start()
    try:
        assert poll(lambda: [a["id"] for a in attempts(out)] == ["slow"], 10)  # the unit is taken
        reply = client.invoke(FunctionName="record", InvocationType="Event",
                              Payload=json.dumps({"id": "waits", "fail": True}))
        assert reply["StatusCode"] == 202
    finally:
        slow.join(timeout=20)
    assert poll(lambda: [a["id"] for a in attempts(out)] == ["slow", "waits", "waits"], 15)
    slow_run, first, _ = attempts(out)
    assert float(first["at"]) >= float(slow_run["at"]) + 1.4  # it ran only once the slow call gave the unit back
    time.sleep(RETRY_DELAY_S * 4)  # a third run would have come by now
    assert [a["id"] for a in attempts(out)] == ["slow", "waits", "waits"]


def test_an_async_route_answers_202_and_the_function_gets_the_http_event(served: tuple[Serve, Path]) -> None:
    serve, out = served
    reply = serve.gateway.post("/hook/7?x=1", json={"id": "ignored"})
    assert reply.status_code == 202
    request_id = reply.json()["requestId"]
    assert reply.headers["x-amzn-requestid"] == request_id
    assert poll(lambda: len(attempts(out)) == 1, 10)
    [attempt] = attempts(out)
    assert attempt["request_id"] == request_id
    assert (attempt["path"], json.loads(str(attempt["body"]))) == ("/hook/7", {"id": "ignored"})
    assert serve.gateway.get("/hook/7").status_code == 404  # POST only, as routed


def test_the_cli_queues_an_event(served: tuple[Serve, Path]) -> None:
    serve, out = served
    done = serve.cli("invoke", "record", "--async", "--data", '{"id": "cli"}')
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("accepted ") and "status 202" in done.stdout
    assert poll(lambda: [a["id"] for a in attempts(out)] == ["cli"], 10)
    refused = serve.cli("invoke", "nope", "--async")
    assert refused.returncode == 1 and "ResourceNotFoundException" in refused.stderr


def test_no_accepted_event_or_message_is_lost_across_twenty_sigkills(tmp_path: Path) -> None:
    root, out = project(tmp_path)
    data = tmp_path / "data"
    accepted: set[str] = set()
    chooser = random.Random(6)
    serve = Serve(data, "--async-retry-delay", str(RETRY_DELAY_S), "--quiet")
    serve.deploy(root)
    for round_ in range(20):
        client, sqs = serve.client(), serve.sqs()
        queue = sqs.get_queue_url(QueueName="work")["QueueUrl"]
        for n in range(15):
            event_id = f"r{round_}-e{n}"
            reply = client.invoke(FunctionName="record", InvocationType="Event",
                                  Payload=json.dumps({"id": event_id, "sleep": chooser.uniform(0, 0.05)}))
            assert reply["StatusCode"] == 202
            accepted.add(event_id)
            message_id = f"r{round_}-m{n}"
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"id": message_id,
                                                                     "sleep": chooser.uniform(0, 0.05)}))
            accepted.add(message_id)
        time.sleep(chooser.uniform(0, 0.2))  # kill at a random point: some done, some running, some waiting
        serve.process.kill()
        serve = Serve(data, "--async-retry-delay", str(RETRY_DELAY_S), "--quiet")
    try:
        assert poll(lambda: accepted <= {a["id"] for a in attempts(out)}, 60), \
            sorted(accepted - {a["id"] for a in attempts(out)})[:10]
    finally:
        serve.stop()
    duplicates = len(attempts(out)) - len({a["id"] for a in attempts(out)})
    print(f"{len(accepted)} events and messages, {duplicates} ran more than once")
