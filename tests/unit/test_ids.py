"""Request ids are version-4 UUID strings, as Lambda's are, and do not repeat."""

from __future__ import annotations

import uuid

from hearth.ids import new_request_id


def test_request_ids_are_uuid4_strings() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:200]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
