"""Destination ARNs of asynchronous invocations: a function (with or without a qualifier) or a queue, in Hearth's one
account and region; anything else is refused with a reason."""

from __future__ import annotations

import pytest

from hearth.model import Destination, function_arn, parse_destination, queue_arn


@pytest.mark.parametrize(("arn", "expected"), [
    (function_arn("other"), Destination("function", "other")),
    (function_arn("other", "live"), Destination("function", "other", "live")),
    (function_arn("other", "12"), Destination("function", "other", "12")),
    (function_arn("other", "$LATEST"), Destination("function", "other", "$LATEST")),
    (queue_arn("failures-1_a"), Destination("queue", "failures-1_a")),
])
def test_functions_and_queues_are_destinations(arn: str, expected: Destination) -> None:
    assert parse_destination(arn) == expected


@pytest.mark.parametrize(("arn", "problem"), [
    ("other", "not an ARN"),
    ("arn:aws:sns:us-east-1:000000000000:topic", "not to sns"),
    ("arn:aws:events:us-east-1:000000000000:event-bus/default", "not to events"),
    ("arn:aws:lambda:eu-west-1:000000000000:function:other", "one region"),
    ("arn:aws:sqs:us-east-1:123456789012:queue", "one account"),
    ("arn:aws:lambda:us-east-1:000000000000:function:", "not a function's ARN"),
    ("arn:aws:lambda:us-east-1:000000000000:function:a b", "not a function's ARN"),
    ("arn:aws:lambda:us-east-1:000000000000:function:other:0", "not a function's ARN"),
    ("arn:aws:lambda:us-east-1:000000000000:function:other:live:more", "not a function's ARN"),
    ("arn:aws:lambda:us-east-1:000000000000:layer:other", "not a function's ARN"),
    ("arn:aws:sqs:us-east-1:000000000000:jobs.fifo", "a queue's name"),
    ("arn:aws:sqs:us-east-1:000000000000:", "a queue's name"),
])
def test_anything_else_is_refused_saying_what_to_give(arn: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as failure:
        parse_destination(arn)
    assert "arn:aws:lambda:us-east-1:000000000000:function:NAME" in str(failure.value)
