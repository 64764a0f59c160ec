"""A function's queue triggers as ``hearth.toml`` declares them (``EventSourceMappingSpec``; polled by
``triggers/queue_poller.py``)::

    [[functions.worker.queues]]
    queue = "jobs"                          # a queue of the project ([queues.jobs]) or one already on the platform
    batch_size = 10                         # 1 to 10,000 (more than 10 needs a batching window)
    maximum_batching_window_s = 5           # 0 to 300: wait this long for a fuller batch
    maximum_concurrency = 4                 # 2 to 1000 batches at once (default: 5)
    report_batch_item_failures = true       # the function answers {"batchItemFailures": [{"itemIdentifier": id}]}
    enabled = false                         # declared, not polled
    qualifier = "live"                      # an alias or version of the function
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hearth.errors import ConfigError
from hearth.model import (
    BATCH_SIZE_RANGE,
    BATCHING_WINDOW_S_RANGE,
    MAXIMUM_CONCURRENCY_RANGE,
    QUEUE_NAME,
    EventSourceMappingSpec,
)

QUEUE_TRIGGER_KEYS = {"queue", "batch_size", "maximum_batching_window_s", "maximum_concurrency",
                      "report_batch_item_failures", "enabled", "qualifier"}

Fail = Callable[[str, str], ConfigError]


def function_queue_triggers(function: str, raw: dict[str, Any], fail: Fail) -> list[EventSourceMappingSpec]:
    """The ``[[functions.NAME.queues]]`` tables of one function; ``fail(key, problem)`` makes the error for a key
    of that function's table (``queues[0].batch_size``)."""
    tables = raw.get("queues", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise fail("queues", 'must be an array of tables: [[functions.NAME.queues]] with queue = "jobs"')
    mappings: dict[str, EventSourceMappingSpec] = {}
    for index, table in enumerate(tables):
        mapping = _mapping(function, f"queues[{index}]", table, fail)
        if mapping.queue in mappings:
            raise fail(f"queues[{index}].queue", f"queue {mapping.queue!r} already triggers {function}; one "
                                                 "trigger per queue and function")
        mappings[mapping.queue] = mapping
    return list(mappings.values())


def _mapping(function: str, where: str, raw: dict[str, Any], fail: Fail) -> EventSourceMappingSpec:
    def problem(key: str, text: str) -> ConfigError:
        return fail(f"{where}.{key}", text)

    unknown = sorted(set(raw) - QUEUE_TRIGGER_KEYS)
    if unknown:
        raise problem(unknown[0], f"unknown key; allowed: {', '.join(sorted(QUEUE_TRIGGER_KEYS))}")
    queue = raw.get("queue")
    if not isinstance(queue, str) or not QUEUE_NAME.match(queue):
        raise problem("queue", 'required: a queue name of 1 to 80 letters, digits, "-" or "_", e.g. "jobs"')

    def whole(key: str, default: int | None, bounds: tuple[int, int]) -> int | None:
        value = raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
            raise problem(key, f"must be a whole number from {bounds[0]} to {bounds[1]}")
        return value

    batch_size = whole("batch_size", 10, BATCH_SIZE_RANGE)
    window = whole("maximum_batching_window_s", 0, BATCHING_WINDOW_S_RANGE)
    assert batch_size is not None and window is not None
    if batch_size > 10 and window < 1:
        raise problem("batch_size", "more than 10 messages per batch needs maximum_batching_window_s of at least 1 "
                                    "(as on Lambda)")
    flags = {}
    for key, default in (("report_batch_item_failures", False), ("enabled", True)):
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise problem(key, "must be true or false")
        flags[key] = value
    qualifier = raw.get("qualifier")
    if qualifier is not None and (not isinstance(qualifier, str) or not qualifier):
        raise problem("qualifier", 'must be an alias name or a version number, e.g. "live" or "3"')
    return EventSourceMappingSpec(
        uuid="", queue=queue, function=function, qualifier=qualifier, batch_size=batch_size,
        maximum_batching_window_s=window,
        maximum_concurrency=whole("maximum_concurrency", None, MAXIMUM_CONCURRENCY_RANGE),
        report_batch_item_failures=flags["report_batch_item_failures"], enabled=flags["enabled"])
