"""The raw-ASGI helpers: a bounded body is read whole, or refused; never passed on cut short."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hearth import errors
from hearth.asgi import Message, read_body


def reader(*messages: Message) -> Any:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)
    return receive


def test_a_body_cut_off_by_a_disconnect_is_refused_not_truncated() -> None:
    receive = reader({"type": "http.request", "body": b"part", "more_body": True}, {"type": "http.disconnect"})
    with pytest.raises(errors.InvalidRequestContent, match="closed the connection before sending the whole body"):
        asyncio.run(read_body({"headers": []}, receive, 100))


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    receive = reader()  # nothing may be read
    with pytest.raises(errors.RequestTooLarge, match="smaller than 10 bytes, got 11 bytes"):
        asyncio.run(read_body({"headers": [(b"content-length", b"11")]}, receive, 10))


def test_a_streamed_body_is_stopped_at_the_limit() -> None:
    chunks = [{"type": "http.request", "body": b"x" * 6, "more_body": True} for _ in range(3)]
    receive = reader(*chunks, {"type": "http.request", "body": b"", "more_body": False})
    with pytest.raises(errors.RequestTooLarge, match="got 12 bytes"):
        asyncio.run(read_body({"headers": []}, receive, 10))


def test_a_whole_body_in_pieces_is_joined() -> None:
    receive = reader({"type": "http.request", "body": b"ab", "more_body": True},
                     {"type": "http.request", "body": b"c", "more_body": False})
    assert asyncio.run(read_body({"headers": []}, receive, 10)) == b"abc"


def test_the_refusal_says_what_the_limit_is_for() -> None:
    with pytest.raises(errors.RequestTooLarge, match=r"smaller than 10 bytes for an asynchronous invocation \(Event\), "
                                                     "got 11 bytes"):
        asyncio.run(read_body({"headers": [(b"content-length", b"11")]}, reader(), 10,
                              "for an asynchronous invocation (Event)"))


def test_invokes_limit_follows_its_invocation_type() -> None:
    from hearth.api.lambda_api import invoke_body_limit

    assert invoke_body_limit([(b"x-amz-invocation-type", b"Event")]) == (1024 * 1024,
                                                                        "for an asynchronous invocation (Event)")
    assert invoke_body_limit([(b"x-amz-invocation-type", b"RequestResponse")]) == (6 * 1024 * 1024, "")
    assert invoke_body_limit([]) == (6 * 1024 * 1024, "")
