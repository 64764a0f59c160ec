"""Queues as manifests declare them (``QueueSpec``; their messages live in the event store, the SQS-compatible API
is ``api/sqs.py``).

In ``hearth.toml``, at the top level::

    [queues.orders]
    visibility_timeout_s = 60          # a received message stays hidden this long unless deleted (0–43200)
    message_retention_s = 86400        # older messages are dropped (60–1209600; default 4 days)
    delay_s = 0                        # new messages become visible after this long (0–900)
    receive_wait_s = 20                # ReceiveMessage's default long-poll wait (0–20)
    maximum_message_size = 262144      # bytes of body and attributes (1024–1048576)
    dead_letter_queue = "orders-dlq"   # with max_receive_count: after that many receives a message moves there
    max_receive_count = 5

    [queues.orders-dlq]                # the dead-letter queue is declared too (or exists already)

``queue_problem`` holds the checks every queue passes, from a manifest or the API (``Catalog.create_queue``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hearth.errors import ConfigError
from hearth.model import (
    DELAY_S_RANGE,
    MAX_RECEIVE_COUNT_RANGE,
    MAXIMUM_MESSAGE_SIZE_RANGE,
    MESSAGE_RETENTION_S_RANGE,
    QUEUE_NAME,
    RECEIVE_WAIT_S_RANGE,
    VISIBILITY_TIMEOUT_S_RANGE,
    QueueSpec,
    parse_destination,
)

RANGES: dict[str, tuple[int, int]] = {
    "visibility_timeout_s": VISIBILITY_TIMEOUT_S_RANGE,
    "message_retention_s": MESSAGE_RETENTION_S_RANGE,
    "delay_s": DELAY_S_RANGE,
    "receive_wait_s": RECEIVE_WAIT_S_RANGE,
    "maximum_message_size": MAXIMUM_MESSAGE_SIZE_RANGE,
    "max_receive_count": MAX_RECEIVE_COUNT_RANGE,
}
QUEUE_KEYS = set(RANGES) | {"dead_letter_queue"}
ATTRIBUTE_OF = {  # SQS's attribute for each setting, for messages that API users read
    "name": "QueueName", "visibility_timeout_s": "VisibilityTimeout", "message_retention_s": "MessageRetentionPeriod",
    "delay_s": "DelaySeconds", "receive_wait_s": "ReceiveMessageWaitTimeSeconds",
    "maximum_message_size": "MaximumMessageSize", "max_receive_count": "RedrivePolicy.maxReceiveCount",
    "dead_letter_queue": "RedrivePolicy.deadLetterTargetArn",
}
NAME_RULE = "1 to 80 letters, digits, '-' or '_'"

# (table, key, problem) → the error; key "" is the table itself
Fail = Callable[[str, str, str], ConfigError]


def queue_problem(spec: QueueSpec) -> tuple[str, str] | None:
    """The first field of ``spec`` that SQS would refuse, with what is wrong; None when it is valid. The dead-letter
    queue is checked for its name only: whether it exists is the catalog's to say."""
    if not QUEUE_NAME.match(spec.name):
        return "name", f"{spec.name!r} is not a queue name: use {NAME_RULE}"
    for key, (low, high) in RANGES.items():
        value = getattr(spec, key)
        if value is None and key == "max_receive_count":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return key, f"must be a whole number from {low} to {high}, got {value!r}"
    if (spec.dead_letter_queue is None) != (spec.max_receive_count is None):
        return "dead_letter_queue", "give both dead_letter_queue and max_receive_count, or neither"
    if spec.dead_letter_queue is not None:
        if not QUEUE_NAME.match(spec.dead_letter_queue):
            return "dead_letter_queue", f"{spec.dead_letter_queue!r} is not a queue name: use {NAME_RULE}"
        if spec.dead_letter_queue == spec.name:
            return "dead_letter_queue", "a queue cannot be its own dead-letter queue"
    return None


def queue_name_of(value: str) -> str:
    """A queue named by its name or its ARN (``arn:aws:sqs:us-east-1:000000000000:NAME``); raises ``ValueError``."""
    if value.startswith("arn:"):
        destination = parse_destination(value)
        if destination.kind != "queue":
            raise ValueError(f"{value!r} is a function's ARN, not a queue's")
        return destination.name
    if not QUEUE_NAME.match(value):
        raise ValueError(f"{value!r} is not a queue name: use {NAME_RULE}")
    return value


def manifest_queues(raw: Any, fail: Fail) -> tuple[QueueSpec, ...]:
    """The ``[queues.NAME]`` tables of a manifest; each dead-letter queue must be one of them or exist already
    (the catalog checks that when the project is applied)."""
    if not isinstance(raw, dict):
        raise fail("", "", "must be tables: [queues.NAME] with visibility_timeout_s = 30, …")
    specs = []
    for name, table in raw.items():
        where = f"queues.{name}"
        if not QUEUE_NAME.match(name):
            raise fail(where, "", f"{name!r} is not a queue name: use {NAME_RULE}")
        if not isinstance(table, dict):
            raise fail(where, "", f"must be a table: [{where}] with visibility_timeout_s = 30, …")
        unknown = sorted(set(table) - QUEUE_KEYS)
        if unknown:
            raise fail(where, unknown[0], f"unknown key; allowed: {', '.join(sorted(QUEUE_KEYS))}")
        dead_letter = table.get("dead_letter_queue")
        if dead_letter is not None:
            if not isinstance(dead_letter, str):
                raise fail(where, "dead_letter_queue", "must be a queue's name (or its ARN)")
            try:
                dead_letter = queue_name_of(dead_letter)
            except ValueError as exc:
                raise fail(where, "dead_letter_queue", str(exc)) from None
        settings = {key: table[key] for key in RANGES if key in table}
        spec = QueueSpec(name, **settings, dead_letter_queue=dead_letter)
        problem = queue_problem(spec)
        if problem is not None:
            key, text = problem
            written = key if key in table else next((k for k in ("dead_letter_queue", "max_receive_count")
                                                     if k in table), "")
            raise fail(where, written, text)
        specs.append(spec)
    return tuple(specs)
