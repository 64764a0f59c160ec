"""SQS's API on the control port, as current botocore speaks it: the AWS JSON 1.0 protocol (``POST /`` with
``X-Amz-Target: AmazonSQS.<Operation>`` and a JSON body; botocore's model for SQS lists only ``json``, so the
older query protocol is not served). ``boto3.client("sqs", endpoint_url=CONTROL_URL)`` works unchanged.

Operations, by target:

    CreateQueue GetQueueUrl ListQueues DeleteQueue GetQueueAttributes SetQueueAttributes PurgeQueue
    SendMessage SendMessageBatch ReceiveMessage DeleteMessage DeleteMessageBatch
    ChangeMessageVisibility ChangeMessageVisibilityBatch

A queue URL is ``http://<the request's Host>/000000000000/<name>``. A receipt handle is opaque to clients: it
carries the queue, the message id and the event store's claim receipt, so a delete or a visibility change needs no
lookup, and a handle of an earlier receive is stale (DeleteMessage then succeeds without effect, as SQS's does;
ChangeMessageVisibility says MessageNotInflight).

Errors are SQS's JSON errors: HTTP 400 (500 for Hearth's own faults), ``{"__type": "com.amazonaws.sqs#<Shape>",
"message": …}`` and ``x-amzn-query-error: <query code>;Sender``, from which botocore picks the exception class
(``client.exceptions.QueueDoesNotExist``) while ``Error.Code`` is the code the query protocol used
(``AWS.SimpleQueueService.NonExistentQueue``), as AWS answers.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime
import fnmatch
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.api.lambda_api import ApiRequest, ApiResponse
from hearth.asgi import Send, respond
from hearth.config.queues import queue_name_of
from hearth.model import ACCOUNT_ID, MAX_RECEIVE_COUNT_RANGE, QUEUE_NAME, QueueSpec, queue_arn
from hearth.store.events import Message, NewMessage
from hearth.triggers import queue_messages as messages

if TYPE_CHECKING:
    from hearth.platform import Platform

TARGET_PREFIX = "AmazonSQS."
CONTENT_TYPE = b"application/x-amz-json-1.0"
MAX_REQUEST = 4 * 1024 * 1024  # a 1 MiB batch, JSON-escaped
MAX_BATCH = 10
MAX_BATCH_BYTES = 1_048_576
MAX_RECEIVE = 10
MAX_WAIT_S = 20
MAX_VISIBILITY_S = 43_200
MAX_LIST = 1000
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")

# Queue attributes ↔ QueueSpec fields (integers, as strings on the wire).
SETTINGS = {
    "VisibilityTimeout": "visibility_timeout_s",
    "MessageRetentionPeriod": "message_retention_s",
    "DelaySeconds": "delay_s",
    "ReceiveMessageWaitTimeSeconds": "receive_wait_s",
    "MaximumMessageSize": "maximum_message_size",
}
COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
READABLE = (*SETTINGS, "RedrivePolicy", "QueueArn", "CreatedTimestamp", *COUNTS)
SYSTEM_ATTRIBUTES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp")

# The codes the query protocol used, which AWS still sends in x-amzn-query-error (unlisted: the shape's name).
QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "InvalidParameterValueException": "InvalidParameterValue",
    "InvalidRequestContentException": "InvalidParameterValue",
    "RequestTooLargeException": "InvalidParameterValue",
}

Operation = Callable[[ApiRequest, dict[str, Any]], Awaitable[dict[str, Any]]]


class SqsApi:
    """The SQS operations over the catalog's queues and the platform's queue service."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.catalog = platform.catalog
        self.queues = platform.queues
        self.operations: dict[str, Operation] = {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "ListQueues": self.list_queues,
            "DeleteQueue": self.delete_queue,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "PurgeQueue": self.purge_queue,
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
        }

    async def call(self, request: ApiRequest) -> ApiResponse:
        """The route's operation: dispatch on ``X-Amz-Target``."""
        target = request.headers.get("x-amz-target", "")
        operation = self.operations.get(target.removeprefix(TARGET_PREFIX)) if target.startswith(
            TARGET_PREFIX) else None
        if operation is None:
            asked = target or "a request without X-Amz-Target"
            raise errors.UnsupportedOperation(f"Hearth's SQS API does not support {asked}; it speaks the AWS JSON "
                                              f"1.0 protocol ({', '.join(self.operations)})")
        result = await operation(request, request.json())
        return ApiResponse(200, orjson.dumps(result), [(b"content-type", CONTENT_TYPE)])

    # -- queues --------------------------------------------------------------------------------------------------

    def _url(self, request: ApiRequest, name: str) -> str:
        return f"http://{request.headers.get('host', '127.0.0.1')}/{ACCOUNT_ID}/{name}"

    def _queue(self, body: Mapping[str, Any]) -> QueueSpec:
        url = _text(body, "QueueUrl")
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if not QUEUE_NAME.match(name):
            raise errors.QueueNotFound(f"The specified queue does not exist: {url!r} is not a queue URL "
                                       f"(http://HOST/{ACCOUNT_ID}/NAME)")
        return self.catalog.queue(name)

    async def create_queue(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        name = _text(body, "QueueName")
        attributes = _attributes(body)
        existing = self.catalog.queues.get(name)
        # As SQS: an existing queue is returned when the attributes given match it (those not given are not
        # compared); any difference is QueueNameExists.
        self.catalog.create_queue(_with_attributes(existing or QueueSpec(name), attributes))
        return {"QueueUrl": self._url(request, name)}

    async def get_queue_url(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        return {"QueueUrl": self._url(request, self.catalog.queue(_text(body, "QueueName")).name)}

    async def list_queues(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        prefix = body.get("QueueNamePrefix") or ""
        names = sorted(name for name in self.catalog.queues if name.startswith(prefix))
        size = _integer(body, "MaxResults", 1, MAX_LIST, MAX_LIST)
        start = 0
        if body.get("NextToken"):
            try:
                start = int(body["NextToken"])
            except (TypeError, ValueError):
                raise errors.InvalidParameterValue("Invalid NextToken value.") from None
        result: dict[str, Any] = {}
        chunk = names[start:start + size]
        if chunk:
            result["QueueUrls"] = [self._url(request, name) for name in chunk]
        if "MaxResults" in body and start + size < len(names):
            result["NextToken"] = str(start + size)
        return result

    async def delete_queue(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        self.catalog.delete_queue(spec.name)
        await self.platform.events.purge(spec.name)  # the explicit delete: its messages go with it
        self.queues.notify(spec.name)  # long polls on it end (QueueDoesNotExist)
        return {}

    async def purge_queue(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        await self.platform.events.purge(self._queue(body).name)
        return {}

    async def get_queue_attributes(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        wanted = body.get("AttributeNames") or []
        if not isinstance(wanted, list):
            raise errors.InvalidAttributeName("AttributeNames must be a list of attribute names")
        names = list(READABLE) if "All" in wanted else list(dict.fromkeys(wanted))
        unknown = [name for name in names if name not in READABLE]
        if unknown:
            raise errors.InvalidAttributeName(f"Unknown Attribute {unknown[0]}.")
        values: dict[str, str] = {}
        for attribute, field in SETTINGS.items():
            values[attribute] = str(getattr(spec, field))
        if spec.dead_letter_queue is not None:
            values["RedrivePolicy"] = orjson.dumps({"deadLetterTargetArn": queue_arn(spec.dead_letter_queue),
                                                    "maxReceiveCount": spec.max_receive_count}).decode()
        values["QueueArn"] = spec.arn
        values["CreatedTimestamp"] = str(_epoch(spec.created))
        if any(name in COUNTS for name in names):
            stats = await self.platform.events.stats(spec.name)
            values.update(zip(COUNTS, (str(stats.visible), str(stats.in_flight), str(stats.delayed)), strict=True))
        found = {name: values[name] for name in names if name in values}
        return {"Attributes": found} if found else {}

    async def set_queue_attributes(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        self.catalog.update_queue(_with_attributes(spec, _attributes(body, required=True)))
        return {}

    # -- messages ------------------------------------------------------------------------------------------------

    def _new_message(self, spec: QueueSpec, entry: Mapping[str, Any], sender: str) -> tuple[NewMessage, dict[str, Any]]:
        """The message to store for one SendMessage (or batch entry), and what the answer says of it."""
        body = messages.check_body(entry.get("MessageBody"))
        attributes = messages.check_attributes(entry.get("MessageAttributes"))
        if entry.get("MessageSystemAttributes"):
            raise errors.InvalidParameterValue("MessageSystemAttributes (AWSTraceHeader) are not supported by "
                                               "Hearth's queues")
        for fifo_only in ("MessageGroupId", "MessageDeduplicationId"):
            if entry.get(fifo_only):
                raise errors.InvalidParameterValue(f"The request include parameter that is not valid for this "
                                                   f"queue type: {fifo_only} is for FIFO queues; Hearth's queues "
                                                   "are standard queues")
        size = messages.size(body, attributes)
        if size > spec.maximum_message_size:
            raise errors.InvalidParameterValue(f"One or more parameters are invalid. Reason: Message must be shorter "
                                               f"than {spec.maximum_message_size} bytes (this one is {size}; "
                                               "the queue's MaximumMessageSize)")
        delay = _integer(entry, "DelaySeconds", 0, 900, spec.delay_s)
        message_id = str(uuid.uuid4())
        meta = messages.encode(messages.MessageMeta(attributes, sender))
        answer = {"MessageId": message_id, "MD5OfMessageBody": messages.md5_of_body(body)}
        digest = messages.md5_of_attributes(attributes)
        if digest is not None:
            answer["MD5OfMessageAttributes"] = digest
        return NewMessage(message_id, spec.name, body.encode(), meta, float(delay)), answer

    async def send_message(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        message, answer = self._new_message(spec, body, request.caller or ACCOUNT_ID)
        await self.queues.send(spec.name, [message])
        return answer

    async def send_message_batch(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        entries = _entries(body)
        total = sum(len(str(entry.get("MessageBody", "")).encode()) for entry in entries)
        if total > MAX_BATCH_BYTES:
            raise errors.InvalidBatchRequest("BatchRequestTooLong", f"Batch requests cannot be longer than "
                                                                    f"{MAX_BATCH_BYTES} bytes. You have sent {total} "
                                                                    "bytes.")
        stored: list[NewMessage] = []
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                message, answer = self._new_message(spec, entry, request.caller or ACCOUNT_ID)
            except errors.ClientError as error:
                failed.append(_failure(entry["Id"], error))
                continue
            stored.append(message)
            successful.append({"Id": entry["Id"], **answer})
        if stored:
            await self.queues.send(spec.name, stored)
        return {"Successful": successful, "Failed": failed}

    async def receive_message(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        limit = _integer(body, "MaxNumberOfMessages", 1, MAX_RECEIVE, 1)
        visibility = _integer(body, "VisibilityTimeout", 0, MAX_VISIBILITY_S, spec.visibility_timeout_s)
        wait = _integer(body, "WaitTimeSeconds", 0, MAX_WAIT_S, spec.receive_wait_s)
        system = set(_names(body, "AttributeNames")) | set(_names(body, "MessageSystemAttributeNames"))
        wanted_system = list(SYSTEM_ATTRIBUTES) if "All" in system else [n for n in SYSTEM_ATTRIBUTES if n in system]
        patterns = _names(body, "MessageAttributeNames")
        received = await self.queues.receive(spec, limit, visibility, wait)
        if not received:
            return {}
        return {"Messages": [_message(message, wanted_system, patterns) for message in received]}

    def _claim_of(self, spec: QueueSpec, handle: Any) -> Message:
        """The claim a receipt handle stands for (only queue, id and receipt are known)."""
        try:
            queue, message_id, receipt = base64.urlsafe_b64decode(str(handle).encode() + b"==").decode().split("\n")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise errors.ReceiptHandleIsInvalid(f"The input receipt handle \"{handle}\" is not a valid receipt "
                                                "handle.") from None
        if queue != spec.name:
            raise errors.ReceiptHandleIsInvalid(f"The input receipt handle \"{handle}\" is not a valid receipt "
                                                f"handle: it is of queue {queue}, not {spec.name}.")
        return Message(message_id, queue, b"", b"", 0.0, 0, receipt)

    async def delete_message(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        await self.platform.events.delete(self._claim_of(spec, _text(body, "ReceiptHandle")))  # stale: no effect
        return {}

    async def delete_message_batch(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry in _entries(body):
            try:
                await self.platform.events.delete(self._claim_of(spec, entry.get("ReceiptHandle")))
            except errors.ClientError as error:
                failed.append(_failure(entry["Id"], error))
            else:
                successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}

    async def _change_visibility(self, spec: QueueSpec, entry: Mapping[str, Any]) -> None:
        claim = self._claim_of(spec, _text(entry, "ReceiptHandle"))
        timeout = _integer(entry, "VisibilityTimeout", 0, MAX_VISIBILITY_S, None)
        if not await self.platform.events.change_visibility(claim, float(timeout)):
            raise errors.MessageNotInflight("The message referred to isn't in flight: it was deleted or received "
                                            "again since this receipt handle was issued.")
        if timeout == 0:
            self.queues.notify(spec.name)  # visible now: a long poll may take it

    async def change_message_visibility(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        await self._change_visibility(self._queue(body), body)
        return {}

    async def change_message_visibility_batch(self, request: ApiRequest, body: dict[str, Any]) -> dict[str, Any]:
        spec = self._queue(body)
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry in _entries(body):
            try:
                await self._change_visibility(spec, entry)
            except errors.ClientError as error:
                failed.append(_failure(entry["Id"], error))
            else:
                successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}


async def render_error(send: Send, error: errors.HearthError, request_id: str) -> None:
    """An error as SQS's JSON protocol answers it (see the module docstring)."""
    shape = error.error_type
    status = 400 if error.status < 500 and not isinstance(error, errors.AccessDenied) else error.status
    code = QUERY_CODES.get(shape, shape)
    headers = [(b"content-type", CONTENT_TYPE), (b"x-amzn-requestid", request_id.encode()),
               (b"x-amzn-query-error", f"{code};{'Sender' if status < 500 else 'Receiver'}".encode())]
    await respond(send, status, headers, orjson.dumps({"__type": f"com.amazonaws.sqs#{shape}",
                                                       "message": error.message}))


def _message(message: Message, system: list[str], patterns: list[str]) -> dict[str, Any]:
    """One received message in ReceiveMessage's shape, with the attributes asked for."""
    body = message.body.decode()
    meta = messages.decode(message.meta)
    item: dict[str, Any] = {"MessageId": message.id, "ReceiptHandle": messages.receipt_handle(message),
                            "MD5OfBody": messages.md5_of_body(body), "Body": body}
    values = {"SenderId": meta.sender or ACCOUNT_ID, "SentTimestamp": str(int(message.sent_at * 1000)),
              "ApproximateReceiveCount": str(message.receive_count),
              "ApproximateFirstReceiveTimestamp": str(int((message.first_received_at or message.sent_at) * 1000))}
    if system:
        item["Attributes"] = {name: values[name] for name in system}
    chosen = {name: value for name, value in meta.attributes.items() if _wanted(name, patterns)}
    if chosen:
        item["MessageAttributes"] = chosen
        item["MD5OfMessageAttributes"] = messages.md5_of_attributes(chosen)
    return item


def _wanted(name: str, patterns: list[str]) -> bool:
    """Whether MessageAttributeNames asks for attribute ``name``: "All", ".*", a name, or a prefix "foo.*"."""
    return any(pattern in ("All", ".*") or pattern == name
               or (pattern.endswith(".*") and fnmatch.fnmatchcase(name, pattern[:-1] + "*")) for pattern in patterns)


def _failure(entry_id: str, error: errors.ClientError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": True, "Code": QUERY_CODES.get(error.error_type, error.error_type),
            "Message": error.message}


def _entries(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A batch request's entries, checked as SQS checks them (count, distinct and well-formed ids)."""
    entries = body.get("Entries")
    if not isinstance(entries, list) or not entries:
        raise errors.InvalidBatchRequest("EmptyBatchRequest", "There should be at least one entry in the "
                                                              "request (Entries).")
    if len(entries) > MAX_BATCH:
        raise errors.InvalidBatchRequest("TooManyEntriesInBatchRequest", f"Maximum number of entries per request "
                                                                         f"are {MAX_BATCH}. You have sent "
                                                                         f"{len(entries)}.")
    ids = [entry.get("Id") if isinstance(entry, dict) else None for entry in entries]
    for entry_id in ids:
        if not isinstance(entry_id, str) or not BATCH_ID.fullmatch(entry_id):
            raise errors.InvalidBatchRequest("InvalidBatchEntryId", f"A batch entry id can only contain "
                                                                    f"alphanumeric characters, hyphens and "
                                                                    f"underscores. It can be at most 80 letters "
                                                                    f"long: {entry_id!r}")
    if len(set(ids)) != len(ids):
        raise errors.InvalidBatchRequest("BatchEntryIdsNotDistinct", "Two or more batch entries in the request "
                                                                     "have the same Id.")
    return entries


def _attributes(body: Mapping[str, Any], *, required: bool = False) -> dict[str, str]:
    raw = body.get("Attributes")
    if raw is None and not required:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise errors.InvalidAttributeValue("Attributes must be a map of attribute names to string values")
    return raw


def _with_attributes(spec: QueueSpec, attributes: Mapping[str, str]) -> QueueSpec:
    """``spec`` with the queue attributes of a CreateQueue or SetQueueAttributes request (the catalog checks the
    values' ranges)."""
    changes: dict[str, Any] = {}
    for name, value in attributes.items():
        if name in SETTINGS:
            try:
                changes[SETTINGS[name]] = int(value)
            except ValueError:
                raise errors.InvalidAttributeValue(f"Invalid value for the parameter {name}: {value!r} is not a "
                                                   "whole number") from None
        elif name == "RedrivePolicy":
            changes.update(_redrive_policy(value))
        elif name == "FifoQueue":
            if value.lower() != "false":
                raise errors.InvalidAttributeValue("Hearth's queues are standard queues: FifoQueue must be false")
        else:
            raise errors.InvalidAttributeName(f"Unknown Attribute {name}: Hearth's queues take "
                                              f"{', '.join([*SETTINGS, 'RedrivePolicy'])}")
    return replace(spec, **changes)


def _redrive_policy(value: str) -> dict[str, Any]:
    if not value:
        return {"dead_letter_queue": None, "max_receive_count": None}
    usage = ('RedrivePolicy must be JSON: {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:NAME", '
             '"maxReceiveCount": N}')
    try:
        policy = orjson.loads(value)
        target, count = policy["deadLetterTargetArn"], int(policy["maxReceiveCount"])
        name = queue_name_of(str(target))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise errors.InvalidAttributeValue(f"Value {value} for parameter RedrivePolicy is invalid: {exc}. "
                                           f"{usage}") from None
    low, high = MAX_RECEIVE_COUNT_RANGE
    if not low <= count <= high:
        raise errors.InvalidAttributeValue(f"Value {value} for parameter RedrivePolicy is invalid. Reason: "
                                           f"maxReceiveCount must be from {low} to {high}.")
    return {"dead_letter_queue": name, "max_receive_count": count}


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise errors.InvalidParameterValue(f"The request must contain the parameter {name}.")
    return value


def _integer(body: Mapping[str, Any], name: str, low: int, high: int, default: int | None) -> int:
    value = body.get(name)
    if value is None:
        if default is None:
            raise errors.InvalidParameterValue(f"The request must contain the parameter {name}.")
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.InvalidParameterValue(f"Value {value} for parameter {name} is invalid. Reason: Must be "
                                           f"between {low} and {high}.")
    return value


def _names(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise errors.InvalidParameterValue(f"{key} must be a list of names")
    return value


def _epoch(created: str) -> int:
    """Epoch seconds of the catalog's ``2026-11-21T10:10:10.123+0000``; 0 when unknown."""
    try:
        moment = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return 0
    return calendar.timegm(moment.utctimetuple())
