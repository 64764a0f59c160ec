"""The pieces of event source mappings that need no platform: SQS's event for a batch, and reading a
``ReportBatchItemFailures`` answer as Lambda reads it."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from hearth.store.events import Message
from hearth.triggers.queue_messages import receipt_handle
from hearth.triggers.queue_poller import item_failures, sqs_event


def test_a_batch_becomes_sqs_records() -> None:
    meta = orjson.dumps({"sender": "cli", "attributes": {
        "kind": {"DataType": "String", "StringValue": "x"}, "blob": {"DataType": "Binary", "BinaryValue": "AAE="}}})
    message = Message("id-1", "jobs", "héllo".encode(), meta, 1_700_000_000.25, 2, "rcpt",
                      first_received_at=1_700_000_000.5)
    [record] = sqs_event([message], now=1_700_000_001.0)["Records"]
    assert record["messageId"] == "id-1" and record["body"] == "héllo"
    assert record["md5OfBody"] == hashlib.md5("héllo".encode()).hexdigest()
    assert record["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000250",
                                    "SenderId": "cli", "ApproximateFirstReceiveTimestamp": "1700000000500"}
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "x", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}}
    assert (record["eventSource"], record["awsRegion"]) == ("aws:sqs", "us-east-1")
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:000000000000:jobs"
    assert record["receiptHandle"] == receipt_handle(message)  # what the SQS API's DeleteMessage takes


@pytest.mark.parametrize(("payload", "failed"), [
    (None, set()),
    (b"null", set()),
    (b"{}", set()),
    (b'{"batchItemFailures": []}', set()),
    (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
    (b'{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}', {"a", "b"}),
    (b'{"batchItemFailures": [{"itemIdentifier": "nope"}]}', None),  # unknown id: the whole batch failed
    (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None),
    (b'{"batchItemFailures": [{}]}', None),
    (b'{"batchItemFailures": "b"}', None),
    (b'"ok"', None),
    (b"not json", None),
])
def test_batch_item_failures_are_read_as_lambda_reads_them(payload: bytes | None, failed: set[str] | None) -> None:
    assert item_failures(payload, {"a", "b"}) == failed
