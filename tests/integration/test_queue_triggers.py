"""Queues feeding functions on ``hearth serve`` (event source mappings), and where failed asynchronous events go:
batches with SQS's event, partial batch failures, redrive to a dead-letter queue, a function's own dead-letter
queue, queue destinations, and the Lambda API's mapping operations through boto3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Serve, poll

WORKER = '''
import json, os

def work(event, context):
    failures = []
    with open(os.environ["OUT"], "a") as out:
        for record in event["Records"]:
            out.write(json.dumps({"body": record["body"], "count": record["attributes"]["ApproximateReceiveCount"],
                                  "batch": len(event["Records"]), "source": record["eventSource"],
                                  "kind": record["messageAttributes"].get("kind", {}).get("stringValue")}) + "\\n")
            if record["body"].startswith("fail"):
                failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}

def flaky(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"done": event.get("n")}

def audit(event, context):
    """A failure destination: writes the invocation record it receives."""
    with open(os.environ["OUT"] + ".audit", "a") as out:
        out.write(json.dumps({"audit": event, "request_id": context.aws_request_id}) + "\\n")
'''


def manifest(out: Path) -> str:
    return f'''
[queues.jobs]
visibility_timeout_s = 2
dead_letter_queue = "jobs-dlq"
max_receive_count = 2

[queues.jobs-dlq]
[queues.failed]
[queues.records]

[functions.worker]
handler = "app.work"
timeout_s = 1
env = {{ OUT = "{out}" }}

[[functions.worker.queues]]
queue = "jobs"
batch_size = 5
maximum_batching_window_s = 1
report_batch_item_failures = true

[functions.flaky]
handler = "app.flaky"
dead_letter_queue = "failed"

[functions.flaky.async]
maximum_retry_attempts = 0
on_success = "arn:aws:sqs:us-east-1:000000000000:records"
on_failure = "audit"

[functions.audit]
handler = "app.audit"
env = {{ OUT = "{out}" }}
'''


def seen(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Path]]:
    root = tmp_path_factory.mktemp("queues")
    project, out = root / "ops", root / "seen.jsonl"
    project.mkdir()
    (project / "app.py").write_text(WORKER)
    (project / "hearth.toml").write_text(manifest(out))
    serve = Serve(root / "data", "--async-retry-delay", "0.2")
    output = serve.deploy(project)
    assert "created   queue trigger jobs → worker" in output, output
    yield serve, out
    serve.stop()


def url(serve: Serve, name: str) -> str:
    return str(serve.sqs().get_queue_url(QueueName=name)["QueueUrl"])


def drained(serve: Serve, name: str) -> bool:
    counts = serve.sqs().get_queue_attributes(QueueUrl=url(serve, name), AttributeNames=["All"])["Attributes"]
    return (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def receive_all(serve: Serve, name: str, count: int) -> list[dict[str, Any]]:
    sqs, found = serve.sqs(), []
    for _ in range(20):  # bounded: long polls of up to 1 s
        reply = sqs.receive_message(QueueUrl=url(serve, name), MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    MessageAttributeNames=["All"])
        found.extend(reply.get("Messages", []))
        if len(found) >= count:
            break
    return found


def test_sent_messages_reach_the_worker_in_batches_and_leave_the_queue(served: tuple[Serve, Path]) -> None:
    serve, out = served
    sqs = serve.sqs()
    entries = [{"Id": str(n), "MessageBody": f"job-{n}", "MessageAttributes": {
        "kind": {"DataType": "String", "StringValue": "batch"}}} for n in range(7)]
    assert len(sqs.send_message_batch(QueueUrl=url(serve, "jobs"), Entries=entries)["Successful"]) == 7
    assert poll(lambda: {r["body"] for r in seen(out)} >= {f"job-{n}" for n in range(7)}, 15)
    jobs = [r for r in seen(out) if r["body"].startswith("job-")]
    assert all(r["batch"] <= 5 and r["source"] == "aws:sqs" and r["kind"] == "batch" for r in jobs)
    assert poll(lambda: drained(serve, "jobs"), 10)


def test_a_reported_failure_is_retried_then_redriven_to_the_dead_letter_queue(served: tuple[Serve, Path]) -> None:
    serve, out = served
    sqs = serve.sqs()
    sqs.send_message(QueueUrl=url(serve, "jobs"), MessageBody="ok-1")
    sqs.send_message(QueueUrl=url(serve, "jobs"), MessageBody="fail-1")
    assert poll(lambda: [r["count"] for r in seen(out) if r["body"] == "fail-1"] == ["1", "2"], 15)
    assert [r["count"] for r in seen(out) if r["body"] == "ok-1"] == ["1"]  # deleted after its batch: not again
    [dead] = receive_all(serve, "jobs-dlq", 1)
    assert dead["Body"] == "fail-1"
    assert poll(lambda: drained(serve, "jobs"), 10)


def test_failed_asynchronous_events_go_to_the_dead_letter_queue_and_records_to_destinations(
        served: tuple[Serve, Path]) -> None:
    serve, out = served
    audit = out.with_name(out.name + ".audit")
    lam = serve.client()
    failed = lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"fail": True, "n": 1}))
    lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"n": 2}))
    [dead] = receive_all(serve, "failed", 1)
    assert json.loads(dead["Body"]) == {"fail": True, "n": 1}  # the event as it came
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes["RequestID"] == failed["ResponseMetadata"]["RequestId"]
    assert attributes["ErrorMessage"] == "asked to fail"
    assert poll(lambda: bool(seen(audit)), 10)
    [audited] = [line["audit"] for line in seen(audit)]
    assert audited["requestContext"]["condition"] == "RetriesExhausted"
    assert audited["requestContext"]["requestId"] == failed["ResponseMetadata"]["RequestId"]
    assert audited["requestPayload"] == {"fail": True, "n": 1}
    assert audited["responseContext"]["functionError"] == "Unhandled"
    assert audited["responsePayload"]["errorMessage"] == "asked to fail"
    [record] = receive_all(serve, "records", 1)
    body = json.loads(record["Body"])
    assert body["requestContext"]["condition"] == "Success" and body["requestPayload"] == {"n": 2}
    assert body["responsePayload"] == {"done": 2}


def test_mappings_through_the_lambda_api(served: tuple[Serve, Path]) -> None:
    serve, _ = served
    lam, sqs = serve.client(), serve.sqs()
    attributes = sqs.get_queue_attributes(QueueUrl=url(serve, "records"), AttributeNames=["QueueArn"])
    arn = attributes["Attributes"]["QueueArn"]
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="worker", BatchSize=2,
                                              ScalingConfig={"MaximumConcurrency": 2}, Enabled=False)
    assert created["EventSourceArn"] == arn and created["BatchSize"] == 2
    uuid = created["UUID"]
    listed = lam.list_event_source_mappings(FunctionName="worker")["EventSourceMappings"]
    assert {m["UUID"] for m in listed} >= {uuid} and len(listed) == 2  # and the manifest's
    updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=3)
    assert updated["BatchSize"] == 3 and lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="worker")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_event_source_mapping(EventSourceArn=arn.replace("records", "nope"), FunctionName="worker")
    lam.delete_event_source_mapping(UUID=uuid)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_event_source_mapping(UUID=uuid)
