"""Queues through SQS's API on a real ``hearth serve``, driven by boto3's own SQS client: create (with a redrive
policy), send, receive, delete, visibility timeouts, long polling, batches, attributes, dead-letter queues, purge,
queues from hearth.toml, messages surviving a restart, and the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from conftest import Serve, poll

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with Serve(tmp_path_factory.mktemp("serve-queues"), "--quiet") as running:
        yield running


@pytest.fixture(scope="module")
def sqs(serve: Serve) -> Any:
    return serve.sqs()


def queue_stats(serve: Serve, name: str) -> dict[str, Any]:
    return next(item for item in serve.native("/hearth/queues")["queues"] if item["name"] == name)


def test_create_with_a_redrive_policy_send_receive_and_delete(serve: Serve, sqs: Any) -> None:
    dlq_url = sqs.create_queue(QueueName="basics-dlq")["QueueUrl"]
    assert dlq_url == f"{serve.process.control}/{ACCOUNT}/basics-dlq"
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert dlq_arn == f"arn:aws:sqs:us-east-1:{ACCOUNT}:basics-dlq"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    url = sqs.create_queue(QueueName="basics", Attributes={"VisibilityTimeout": "5", "RedrivePolicy": policy})[
        "QueueUrl"]
    assert sqs.get_queue_url(QueueName="basics")["QueueUrl"] == url
    assert sqs.list_queues(QueueNamePrefix="basics")["QueueUrls"] == [url, dlq_url]
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="nothing-like-it")

    attributes = {"kind": {"DataType": "String", "StringValue": "order ✓"},
                  "count": {"DataType": "Number", "StringValue": "12.5"},
                  "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01binary"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello ✓", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("hello ✓".encode()).hexdigest()
    assert len(sent["MD5OfMessageAttributes"]) == 32

    before = time.time()
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"],
                                    MessageSystemAttributeNames=["All"])["Messages"]
    assert (message["MessageId"], message["Body"]) == (sent["MessageId"], "hello ✓")
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]  # the same digest, both ways
    assert message["MessageAttributes"] == attributes
    system = message["Attributes"]
    assert system["ApproximateReceiveCount"] == "1"
    assert system["SenderId"] == serve.key["access_key_id"]
    assert abs(int(system["SentTimestamp"]) / 1000 - before) < 5
    assert int(system["ApproximateFirstReceiveTimestamp"]) >= int(system["SentTimestamp"])

    # Asking for some attributes: only those, with the digest of those.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    [again] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, MessageAttributeNames=["kind"])["Messages"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    [third] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["ki*", "kind"])["Messages"]
    assert third["MessageAttributes"] == {"kind": attributes["kind"]}
    assert third["MD5OfMessageAttributes"] != sent["MD5OfMessageAttributes"]
    assert "Attributes" not in third

    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # stale: succeeds, changes nothing
    with pytest.raises(sqs.exceptions.MessageNotInflight):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=9)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    stats = queue_stats(serve, "basics")
    assert (stats["visible"], stats["in_flight"], stats["delayed"]) == (0, 0, 0)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")


def test_errors_are_sqs_errors_that_boto3_maps_to_its_exceptions(sqs: Any) -> None:
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as missing:
        sqs.get_queue_url(QueueName="no-such-queue")
    assert missing.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl="http://127.0.0.1:1/000000000000/no-such-queue", MessageBody="x")
    sqs.create_queue(QueueName="same", Attributes={"DelaySeconds": "1"})
    assert sqs.create_queue(QueueName="same", Attributes={"DelaySeconds": "1"})["QueueUrl"].endswith("/same")
    assert sqs.create_queue(QueueName="same")["QueueUrl"].endswith("/same")  # nothing given, nothing differs
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName="same", Attributes={"DelaySeconds": "2"})
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.create_queue(QueueName="odd", Attributes={"Colour": "blue"})
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidAttributeValue"):
        sqs.create_queue(QueueName="odd", Attributes={"VisibilityTimeout": "99999"})
    with pytest.raises(botocore.exceptions.ClientError, match="MaxNumberOfMessages is invalid"):
        sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName="same")["QueueUrl"], MaxNumberOfMessages=11)


def test_an_expired_visibility_timeout_delivers_again_and_wakes_a_long_poll(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="visibility", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    [first] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # hidden for a second
    started = time.monotonic()
    [second] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10, AttributeNames=["ApproximateReceiveCount"])[
        "Messages"]
    waited = time.monotonic() - started
    assert second["MessageId"] == first["MessageId"] and second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert 0.3 < waited < 5, waited  # woke when the timeout ran out, not at the end of the wait


def test_a_long_poll_waits_and_wakes_when_a_message_is_sent(serve: Serve, sqs: Any) -> None:
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert time.monotonic() - started >= 0.9  # an empty queue: it waited the whole second

    received: list[Any] = []
    receiver = threading.Thread(target=lambda: received.append(
        (sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20), time.monotonic())))
    receiver.start()
    assert poll(lambda: queue_stats(serve, "long-poll")["receivers_waiting"] == 1, 10)  # it waits now
    sent_at = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    receiver.join(25)
    [(answer, returned_at)] = received
    assert answer["Messages"][0]["Body"] == "wake up"
    assert returned_at - sent_at < 3  # woken by the send, not by the end of its 20 s


def test_batches_answer_per_entry(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="batches")["QueueUrl"]
    result = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"},
        {"Id": "b", "MessageBody": "two", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "2"}}},
        {"Id": "c", "MessageBody": "bad \x00 char"},
        {"Id": "d", "MessageBody": "late", "DelaySeconds": 60},
    ])
    assert sorted(entry["Id"] for entry in result["Successful"]) == ["a", "b", "d"]
    [failed] = result["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == ("c", "InvalidMessageContents", True)
    assert next(e for e in result["Successful"] if e["Id"] == "a")["MD5OfMessageBody"] == hashlib.md5(
        b"one").hexdigest()
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["one", "two"]  # "late" is delayed
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        *({"Id": f"m{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)),
        {"Id": "bogus", "ReceiptHandle": "###"}])
    assert sorted(e["Id"] for e in deleted["Successful"]) == ["m0", "m1"]
    assert [(e["Id"], e["Code"]) for e in deleted["Failed"]] == [("bogus", "ReceiptHandleIsInvalid")]
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "x", "MessageBody": "1"},
                                                      {"Id": "x", "MessageBody": "2"}])
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "m"} for i in range(11)])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attributes["Attributes"] == {"ApproximateNumberOfMessagesDelayed": "1"}


def test_queue_attributes_are_read_and_set(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="attributes", Attributes={"DelaySeconds": "0", "MessageRetentionPeriod": "600",
                                                                "ReceiveMessageWaitTimeSeconds": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b")
    sqs.send_message(QueueUrl=url, MessageBody="c", DelaySeconds=30)
    sqs.receive_message(QueueUrl=url)
    every = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert {key: every[key] for key in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                        "ApproximateNumberOfMessagesDelayed", "VisibilityTimeout",
                                        "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
                                        "MaximumMessageSize", "QueueArn")} == {
        "ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "1",
        "ApproximateNumberOfMessagesDelayed": "1", "VisibilityTimeout": "30", "MessageRetentionPeriod": "600",
        "DelaySeconds": "0", "ReceiveMessageWaitTimeSeconds": "0", "MaximumMessageSize": "262144",
        "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:attributes"}
    assert abs(int(every["CreatedTimestamp"]) - time.time()) < 60
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "30", "MaximumMessageSize": "1024"})
    sqs.send_message(QueueUrl=url, MessageBody="takes the queue's delay")
    named = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds",
                                                                   "ApproximateNumberOfMessagesDelayed"])
    assert named["Attributes"] == {"DelaySeconds": "30", "ApproximateNumberOfMessagesDelayed": "2"}
    with pytest.raises(botocore.exceptions.ClientError, match="shorter than 1024 bytes"):
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Nonsense"])


def test_a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue(sqs: Any) -> None:
    dlq_url = sqs.create_queue(QueueName="poison-dlq")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:poison-dlq", "maxReceiveCount": 2})
    url = sqs.create_queue(QueueName="poison", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="fails every time",
                            MessageAttributes={"a": {"DataType": "String", "StringValue": "kept"}})
    for count in ("1", "2"):
        [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, AttributeNames=["All"])["Messages"]
        assert message["Attributes"]["ApproximateReceiveCount"] == count
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # the third receive moves it instead
    [dead] = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"], AttributeNames=["All"])["Messages"]
    assert (dead["MessageId"], dead["Body"]) == (sent["MessageId"], "fails every time")
    assert dead["MessageAttributes"] == {"a": {"DataType": "String", "StringValue": "kept"}}
    assert dead["Attributes"]["ApproximateReceiveCount"] == "1"
    stored = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(stored["RedrivePolicy"]) == json.loads(policy)


def test_purge_and_delete_drop_the_messages(serve: Serve, sqs: Any) -> None:
    url = sqs.create_queue(QueueName="purged")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
    sqs.receive_message(QueueUrl=url)
    sqs.purge_queue(QueueUrl=url)
    stats = queue_stats(serve, "purged")
    assert (stats["visible"], stats["in_flight"], stats["delayed"]) == (0, 0, 0)
    sqs.send_message(QueueUrl=url, MessageBody="left behind?")
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="purged")
    sqs.create_queue(QueueName="purged")
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # a new queue of that name starts empty


def test_queues_of_a_hearth_toml_are_deployed(serve: Serve, sqs: Any, tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "app.py").write_text("import os\n\ndef handler(event, context):\n"
                                    "    return os.environ.get('HEARTH_SQS_ENDPOINT')\n")
    (project / "hearth.toml").write_text(
        '[functions.shop-fn]\nhandler = "app.handler"\n\n'
        '[queues.orders]\nvisibility_timeout_s = 7\ndead_letter_queue = "orders-dlq"\nmax_receive_count = 4\n\n'
        "[queues.orders-dlq]\nmessage_retention_s = 1209600\n")
    output = serve.deploy(project)
    assert "created   queue orders-dlq" in output and "created   queue orders " in output, output
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "7"
    assert json.loads(attributes["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders-dlq", "maxReceiveCount": 4}
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    (project / "hearth.toml").write_text('[functions.shop-fn]\nhandler = "app.handler"\n\n[queues.orders-dlq]\n'
                                         "message_retention_s = 1209600\n")
    # Functions are told where the SQS API is (boto3.client("sqs", endpoint_url=os.environ["HEARTH_SQS_ENDPOINT"])).
    answer = serve.client().invoke(FunctionName="shop-fn")["Payload"].read()
    assert json.loads(answer) == serve.process.control
    output = serve.deploy(project)
    assert "skipped   queue orders no longer in the manifest; kept with its messages" in output, output
    assert queue_stats(serve, "orders")["visible"] == 1


def test_the_cli_lists_queues_and_sends(serve: Serve, sqs: Any, tmp_path: Path) -> None:
    url = sqs.create_queue(QueueName="cli-queue")["QueueUrl"]
    sent = serve.cli("send", "cli-queue", "--body", "from the cli", "--attribute", "origin=cli", "-a", "n=1")
    assert sent.returncode == 0, sent.stderr
    (tmp_path / "body.json").write_text('{"from": "a file"}')
    later = serve.cli("send", "cli-queue", "--body", f"@{tmp_path / 'body.json'}", "--delay", "60")
    assert later.returncode == 0, later.stderr
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageId"] == sent.stdout.strip()
    assert message["Body"] == "from the cli"
    assert message["MessageAttributes"] == {"origin": {"DataType": "String", "StringValue": "cli"},
                                            "n": {"DataType": "String", "StringValue": "1"}}
    listing = serve.cli("queues")
    assert listing.returncode == 0, listing.stderr
    row = next(line.split() for line in listing.stdout.splitlines() if line.split()[:1] == ["cli-queue"])
    assert row == ["cli-queue", "0", "1", "1", "-"]  # visible, in flight, delayed, no DLQ
    sqs.create_queue(QueueName="cli-dlq")
    sqs.create_queue(QueueName="cli-source", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:cli-dlq", "maxReceiveCount": 2})})
    listing = serve.cli("queues")
    row = next(line.strip().split(None, 4) for line in listing.stdout.splitlines()
               if line.split()[:1] == ["cli-source"])
    assert row == ["cli-source", "0", "0", "0", "cli-dlq (after 2)"]
    missing = serve.cli("send", "no-such-queue", "--body", "x")
    assert missing.returncode == 1 and "QueueDoesNotExist" in missing.stderr, missing.stderr


def test_messages_survive_a_restart(tmp_path: Path) -> None:
    first = Serve(tmp_path / "data", "--quiet")
    try:
        sqs = first.sqs()
        url = sqs.create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="kept", MessageAttributes={
            "b": {"DataType": "Binary", "BinaryValue": base64.b64decode("AAE=")}})
        sqs.send_message(QueueUrl=url, MessageBody="in flight")
        assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1
    finally:
        first.stop()
    second = Serve(tmp_path / "data", "--quiet")
    try:
        sqs = second.sqs()
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5,
                                       MessageAttributeNames=["All"])["Messages"]
        bodies = {m["Body"] for m in received}
        if len(bodies) < 2:  # the one in flight comes back once its second of visibility is over
            received += sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
        assert {m["Body"] for m in received} == {"kept", "in flight"}
        kept = next(m for m in received if m["Body"] == "kept")
        assert kept["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01"
    finally:
        second.stop()


def test_a_function_sends_with_plain_boto3_and_its_key_is_good_for_sqs_only(serve: Serve, sqs: Any,
                                                                             tmp_path: Path) -> None:
    project = tmp_path / "sender"
    project.mkdir()
    (project / "app.py").write_text(
        "import boto3\n\n"
        "def handler(event, context):\n"
        "    client = boto3.client('sqs')  # endpoint, region and keys all come from the environment\n"
        "    url = client.get_queue_url(QueueName='outbox')['QueueUrl']\n"
        "    sent = client.send_message(QueueUrl=url, MessageBody=event['body'])['MessageId']\n"
        "    try:\n"
        "        boto3.client('lambda', endpoint_url=url.rsplit('/', 2)[0]).list_functions()\n"
        "        denied = None\n"
        "    except Exception as exc:\n"
        "        denied = type(exc).__name__ + ': ' + str(exc)\n"
        "    return {'sent': sent, 'denied': denied}\n")
    (project / "hearth.toml").write_text('[functions.sender]\nhandler = "app.handler"\ntimeout_s = 30\n\n'
                                         '[queues.outbox]\n')
    serve.deploy(project)
    answer = json.loads(serve.client().invoke(FunctionName="sender", Payload=b'{"body": "from inside"}')
                        ["Payload"].read())
    url = sqs.get_queue_url(QueueName="outbox")["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert (message["MessageId"], message["Body"]) == (answer["sent"], "from inside")
    assert answer["denied"] is not None and "AccessDenied" in answer["denied"] and "only call sqs" in \
        answer["denied"], answer
