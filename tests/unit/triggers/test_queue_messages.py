"""SQS's message digests and attribute checks: MD5OfMessageBody and MD5OfMessageAttributes must be exactly SQS's
(SDKs that check them, such as the Java and Go SDKs, refuse a response whose digests differ)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from hearth import errors
from hearth.triggers import queue_messages as messages


def test_the_body_digest_is_the_md5_of_its_utf8_bytes() -> None:
    assert messages.md5_of_body("hello") == "5d41402abc4b2a76b9719d911017c592"
    assert messages.md5_of_body("ç✓") == hashlib.md5("ç✓".encode()).hexdigest()


@pytest.mark.parametrize(("attributes", "expected"), [
    # Vectors from other SQS implementations checked against AWS SDKs (localstack's test suite; sqslite's, which
    # checks aws-sdk-go-v2).
    ({"timestamp": {"DataType": "Number", "StringValue": "1493147359900"}}, "235c5c510d26fb653d073faed50ae77c"),
    ({"ordinal": {"DataType": "Number", "StringValue": "1"}, "category": {"DataType": "String", "StringValue": "test"}},
     "d21ae90c49061e927f57df5f5d72be1f"),
])
def test_the_attribute_digest_matches_known_vectors(attributes: dict[str, dict[str, str]], expected: str) -> None:
    assert messages.md5_of_attributes(attributes) == expected


def test_the_attribute_digest_encodes_binary_values_with_their_own_transport_byte() -> None:
    raw = b"\x00\x01"
    value = {"b": {"DataType": "Binary", "BinaryValue": base64.b64encode(raw).decode()}}
    length = (1).to_bytes(4, "big")
    expected = hashlib.md5(length + b"b" + (6).to_bytes(4, "big") + b"Binary" + b"\x02" + (2).to_bytes(4, "big")
                           + raw).hexdigest()
    assert messages.md5_of_attributes(value) == expected
    assert messages.md5_of_attributes({}) is None  # SQS sends no digest without attributes


def test_attributes_are_checked_as_sqs_checks_them() -> None:
    good = {"a": {"DataType": "String.custom", "StringValue": "x"}, "n": {"DataType": "Number", "StringValue": "-1e3"},
            "b": {"DataType": "Binary", "BinaryValue": "AAE="}}
    assert messages.check_attributes(good) == good
    for bad, error in (({"AWS.x": {"DataType": "String", "StringValue": "x"}}, errors.InvalidAttributeName),
                       ({"a..b": {"DataType": "String", "StringValue": "x"}}, errors.InvalidAttributeName),
                       ({"a": {"DataType": "Text", "StringValue": "x"}}, errors.InvalidParameterValue),
                       ({"a": {"DataType": "Number", "StringValue": "ten"}}, errors.InvalidParameterValue),
                       ({"a": {"DataType": "String"}}, errors.InvalidParameterValue),
                       ({"a": {"DataType": "Binary", "BinaryValue": "not base64!"}}, errors.InvalidParameterValue),
                       ({f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
                        errors.InvalidParameterValue)):
        with pytest.raises(error):
            messages.check_attributes(bad)


def test_bodies_with_characters_sqs_refuses_are_refused_and_sizes_count_attributes() -> None:
    assert messages.check_body("ok \t\n\r ✓ \U0001f600") == "ok \t\n\r ✓ \U0001f600"
    for bad in ("nul \x00", "bell \x07", "\ufffe"):
        with pytest.raises(errors.InvalidMessageContents):
            messages.check_body(bad)
    with pytest.raises(errors.InvalidParameterValue, match="MessageBody"):
        messages.check_body("")
    assert messages.size("ab", {"k": {"DataType": "String", "StringValue": "xyz"}}) == 2 + 1 + 6 + 3


def test_meta_round_trips() -> None:
    meta = messages.MessageMeta({"a": {"DataType": "String", "StringValue": "x"}}, "HKEY")
    assert messages.decode(messages.encode(meta)) == meta
    assert messages.decode(b"") == messages.MessageMeta()
