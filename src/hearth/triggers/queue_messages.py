"""What a queue message is made of beyond its body, as SQS defines it: message attributes (checked as SQS checks
them), the MD5 digests SQS reports for a body and its attributes, and how both are kept in the event store.

A message of a user queue is an event-store message whose ``body`` is the message body (UTF-8) and whose
``meta`` is a JSON object: ``attributes`` (the message attributes in SQS's JSON shape: ``DataType`` and
``StringValue`` or base64 ``BinaryValue``) and ``sender`` (the SenderId: the sender's access key id). The SQS API
(``api/sqs.py``) and the event source mappings read messages through ``decode``.

MD5OfMessageAttributes follows SQS's documented encoding: the attributes sorted by name, each as its name, its data
type (each a 4-byte big-endian length then UTF-8 bytes), one transport byte (1 for String and Number, 2 for
Binary) and its value (4-byte length then the bytes), all digested together.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from hearth import errors
from hearth.store.events import Message

MAX_ATTRIBUTES = 10
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}\Z")
_RESERVED_PREFIXES = ("aws.", "amazon.")
# What SQS accepts in a body and in string values: #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF
_INVALID_TEXT = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STRING, _BINARY = 1, 2

Attributes = dict[str, dict[str, str]]  # name → {"DataType": …, "StringValue" | "BinaryValue": …} (JSON shape)


@dataclass(frozen=True)
class MessageMeta:
    """What a queue message's ``meta`` holds."""

    attributes: Attributes = field(default_factory=dict)
    sender: str = ""


def encode(meta: MessageMeta) -> bytes:
    return orjson.dumps({"attributes": meta.attributes, "sender": meta.sender})


def decode(data: bytes) -> MessageMeta:
    """The meta ``encode`` wrote (empty meta: no attributes, no sender)."""
    if not data:
        return MessageMeta()
    doc = orjson.loads(data)
    return MessageMeta(dict(doc.get("attributes") or {}), str(doc.get("sender") or ""))


def check_body(body: Any) -> str:
    """A message body as SQS takes it: a non-empty string of the characters it allows."""
    if not isinstance(body, str) or not body:
        raise errors.InvalidParameterValue("The request must contain the parameter MessageBody.")
    bad = _INVALID_TEXT.search(body)
    if bad is not None:
        raise errors.InvalidMessageContents(f"Invalid binary character '#x{ord(bad.group()):X}' was found in the "
                                            "message body, the set of allowed characters is #x9 | #xA | #xD | "
                                            "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
    return body


def check_attributes(raw: Any) -> Attributes:
    """Message attributes as a request sends them (JSON shape), checked as SQS checks them."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise errors.InvalidParameterValue("MessageAttributes must be a map of name to {DataType, StringValue | "
                                           "BinaryValue}")
    if len(raw) > MAX_ATTRIBUTES:
        raise errors.InvalidParameterValue(f"Number of message attributes [{len(raw)}] exceeds the allowed maximum "
                                           f"[{MAX_ATTRIBUTES}].")
    checked: Attributes = {}
    for name, value in raw.items():
        if (not ATTRIBUTE_NAME.match(name) or name.lower().startswith(_RESERVED_PREFIXES) or ".." in name
                or name.startswith(".") or name.endswith(".")):
            raise errors.InvalidAttributeName(f"Message attribute name '{name}' is invalid: use up to 256 "
                                              "letters, digits, '_', '-' and '.' (not at the ends, not twice in a "
                                              "row), not starting with 'AWS.' or 'Amazon.'")
        if not isinstance(value, dict) or not isinstance(value.get("DataType"), str):
            raise errors.InvalidParameterValue(f"The message attribute '{name}' must contain a non-empty data type.")
        data_type = value["DataType"]
        kind = data_type.split(".", 1)[0]
        if kind not in ("String", "Number", "Binary") or len(data_type) > 256:
            raise errors.InvalidParameterValue(f"The type of message attribute '{name}' is invalid: "
                                               f"{data_type!r}; use String, Number or Binary (optionally with "
                                               "a '.custom' suffix)")
        if value.get("StringListValues") or value.get("BinaryListValues"):
            raise errors.InvalidParameterValue(f"Message attribute '{name}': list values are not supported")
        if kind == "Binary":
            binary = value.get("BinaryValue")
            try:
                decoded = base64.b64decode(binary, validate=True) if isinstance(binary, str) else b""
            except binascii.Error:
                decoded = b""
            if not decoded:
                raise errors.InvalidParameterValue(f"The message attribute '{name}' with type 'Binary' must use "
                                                   "field 'Binary'.")
            checked[name] = {"DataType": data_type, "BinaryValue": binary}  # type: ignore[dict-item]
            continue
        text = value.get("StringValue")
        if not isinstance(text, str) or not text:
            raise errors.InvalidParameterValue(f"The message attribute '{name}' with type '{kind}' must use field "
                                               "'String'.")
        if _INVALID_TEXT.search(text):
            raise errors.InvalidMessageContents(f"The message attribute '{name}' holds characters SQS does not "
                                                "allow")
        if kind == "Number":
            try:
                Decimal(text)
            except InvalidOperation:
                raise errors.InvalidParameterValue(f"Can't cast the value of message (user) attribute '{name}' to "
                                                   "a number.") from None
        checked[name] = {"DataType": data_type, "StringValue": text}
    return checked


def size(body: str, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """The bytes SQS counts against a queue's MaximumMessageSize: the body, and each attribute's name, data type
    and value."""
    total = len(body.encode())
    for name, value in attributes.items():
        total += len(name.encode()) + len(value["DataType"].encode()) + len(_value_bytes(value))
    return total


def md5_of_body(body: str) -> str:
    """MD5OfMessageBody / MD5OfBody: the hex MD5 of the body's UTF-8 bytes."""
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, Mapping[str, str]]) -> str | None:
    """MD5OfMessageAttributes (see the module docstring); None when there are no attributes (SQS sends none)."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        binary = value["DataType"].startswith("Binary")
        for part in (name.encode(), value["DataType"].encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        data = _value_bytes(value)
        digest.update(bytes([_BINARY if binary else _STRING]) + struct.pack(">I", len(data)) + data)
    return digest.hexdigest()


def _value_bytes(value: Mapping[str, str]) -> bytes:
    if "BinaryValue" in value:
        return base64.b64decode(value["BinaryValue"])
    return value["StringValue"].encode()


def receipt_handle(message: Message) -> str:
    """The opaque handle of one receive of ``message`` (ReceiveMessage's ``ReceiptHandle``, a record's
    ``receiptHandle``): its queue, id and claim receipt."""
    return base64.urlsafe_b64encode(f"{message.queue}\n{message.id}\n{message.receipt}".encode()).decode().rstrip("=")
