"""The name patterns of functions, aliases, versions, queues and handlers match whole strings: a trailing newline,
which ``$`` would let through, is refused like any other character outside the pattern."""

from __future__ import annotations

import re

import pytest

from hearth.model import ALIAS_NAME, FUNCTION_NAME, HANDLER, QUEUE_NAME, VERSION_QUALIFIER


@pytest.mark.parametrize(("pattern", "good", "bad"), [
    (FUNCTION_NAME, ["fn", "a-b_c", "x" * 64], ["fn\n", "x" * 65, "a.b", ""]),
    (ALIAS_NAME, ["live", "v1", "x" * 128], ["live\n", "123", "123\n", "x" * 129, "a/b"]),
    (QUEUE_NAME, ["jobs", "x" * 80], ["jobs\n", "x" * 81, "a.fifo"]),
    (VERSION_QUALIFIER, ["1", "42"], ["1\n", "0", "01"]),
    (HANDLER, ["app.handler", "pkg.mod.fn"], ["app.handler\n", "app", "1app.fn"]),
])
def test_patterns_match_the_whole_name(pattern: re.Pattern[str], good: list[str], bad: list[str]) -> None:
    assert all(pattern.match(name) for name in good)
    assert not any(pattern.match(name) for name in bad)
