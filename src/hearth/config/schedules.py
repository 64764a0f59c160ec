"""Schedules as manifests declare them (``ScheduleSpec``; fired by ``triggers/scheduler.py``).

In ``hearth.toml``, per function::

    [functions.report]
    handler = "report.handler"
    schedule = "cron(0 12 ? * MON-FRI *)"      # one schedule, named after the function

    [[functions.cleanup.schedules]]            # or any number of them
    expression = "rate(5 minutes)"             # rate(), cron() (EventBridge) or five-field cron
    timezone = "Europe/Berlin"                 # IANA name for cron fields (default UTC)
    input = { task = "vacuum" }                # replaces the Scheduled Event
    missed = "once"                            # ticks missed while Hearth was down: "skip" (default) or "once"
    enabled = false                            # declared, never fires
    qualifier = "live"                         # an alias or version of the function
    name = "nightly"                           # default: the function's name, then ".1", ".2", …

In ``vercel.json``, ``crons: [{"path": "/api/cron", "schedule": "0 5 * * *"}]`` (a GET of the path, in UTC).

A schedule's name is unique within its project; on the platform it is ``<project>.<name>`` (``Catalog.apply``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from hearth.errors import ConfigError
from hearth.model import MISSED_POLICIES, ScheduleSpec
from hearth.triggers.schedule import parse

SCHEDULE_KEYS = {"expression", "timezone", "input", "missed", "enabled", "qualifier", "name"}
SCHEDULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

Fail = Callable[[str, str], ConfigError]


def function_schedules(function: str, raw: dict[str, Any], fail: Fail) -> list[ScheduleSpec]:
    """The schedules of one ``[functions.NAME]`` table (``schedule`` and ``[[…schedules]]``), not yet qualified
    by the project's name; ``fail(key, problem)`` makes the error for a key of that table."""
    entries: list[tuple[str, dict[str, Any]]] = []
    if "schedule" in raw:
        value = raw["schedule"]
        if not isinstance(value, str):
            raise fail("schedule", 'must be an expression such as "rate(5 minutes)" or "cron(0 12 * * ? *)"; for '
                                   "more settings use [[functions.NAME.schedules]] tables")
        entries.append(("schedule", {"expression": value}))
    tables = raw.get("schedules", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise fail("schedules", 'must be an array of tables: [[functions.NAME.schedules]] with expression = '
                                '"rate(5 minutes)"')
    entries.extend((f"schedules[{index}]", table) for index, table in enumerate(tables))
    specs: dict[str, ScheduleSpec] = {}
    for position, (where, entry) in enumerate(entries):
        default_name = function if position == 0 else f"{function}.{position}"
        spec = _schedule(function, where, entry, default_name, fail)
        if spec.name in specs:
            raise fail(f"{where}.name" if where != "schedule" else "schedule",
                       f"two schedules are named {spec.name!r}; give each a name of its own")
        specs[spec.name] = spec
    return list(specs.values())


def _schedule(function: str, where: str, raw: dict[str, Any], default_name: str, fail: Fail) -> ScheduleSpec:
    def problem(key: str, text: str) -> ConfigError:
        return fail(f"{where}.{key}" if where != "schedule" else "schedule", text)

    unknown = sorted(set(raw) - SCHEDULE_KEYS)
    if unknown:
        raise problem(unknown[0], f"unknown key; allowed: {', '.join(sorted(SCHEDULE_KEYS))}")
    expression, timezone = raw.get("expression"), raw.get("timezone", "UTC")
    if not isinstance(expression, str):
        raise problem("expression", 'required: "rate(5 minutes)", "cron(0 12 * * ? *)" or "0 12 * * *"')
    if not isinstance(timezone, str):
        raise problem("timezone", 'must be an IANA time zone name, e.g. "Europe/Berlin"')
    try:
        schedule = parse(expression, timezone)
    except ValueError as exc:
        raise problem("expression" if "time zone" not in str(exc) else "timezone", str(exc)) from None
    text = None
    if "input" in raw:
        try:
            text = orjson.dumps(raw["input"]).decode()
        except TypeError:
            raise problem("input", "must be JSON-like: tables, arrays, strings, numbers, booleans (no dates)") \
                from None
    missed = raw.get("missed", "skip")
    if missed not in MISSED_POLICIES:
        raise problem("missed", f"must be one of {', '.join(MISSED_POLICIES)}: what happens to ticks missed "
                                "while Hearth was not running")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise problem("enabled", "must be true or false")
    qualifier = raw.get("qualifier")
    if qualifier is not None and (not isinstance(qualifier, str) or not qualifier):
        raise problem("qualifier", 'must be an alias name or a version number, e.g. "live" or "3"')
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not SCHEDULE_NAME.match(name):
        raise problem("name", "must be letters, digits, '.', '-' and '_' (1 to 64 characters)")
    return ScheduleSpec(name=name, expression=schedule.expression, timezone=schedule.timezone, function=function,
                        qualifier=qualifier, input=text, missed=missed, enabled=enabled)


def cron_schedule(index: int, path: str, expression: str) -> ScheduleSpec:
    """A vercel.json ``crons`` entry; raises ``ValueError`` for a bad expression."""
    schedule = parse(expression)
    return ScheduleSpec(name=f"cron.{index}", expression=schedule.expression, path=path)
