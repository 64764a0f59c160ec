"""The log store's entries and the three ways they are shown: console text, Hearth's JSON, Lambda's JSON.

An *entry* is one stored JSON object: an invocation (the record's fields and its console lines) or an instance's
own output (``http`` servers' lines no invocation owns). Each line carries a time::

    {"type": "invocation", "time": END, "request_id": …, "function": …, "version": …, "trigger": …, "start": …,
     "duration_ms": …, "billed_ms": …, "memory_mb": …, "max_memory_mb": …, "init_ms": …, "status": …,
     "error_type": …, "cold": …, "lines": [{"time": …, "message": …}, …]}
    {"type": "output", "time": T, "function": …, "version": …, "instance_id": …, "lines": [...]}

The store writes an invocation as its record's fields (``stored_record``, type ``"record"``) and makes this entry
when it reads it (``readable``), so the writer thread does one ``orjson`` call per record.

Line times: the function's own lines carry the time the platform read them from the instance's pipe
(``InvocationRecord.log_times``, from ``runtimes/logs.py``: one clock read per chunk, so lines written together
share a time; a line read after the invocation ended, as the last ones are, gets its end); Init lines and START
get the record's start, END and REPORT its end (start + duration); a record without ``log_times`` gives its own
lines the end too. An instance's own output gets the time the platform received it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from hearth.errors import InvalidParameterValue
from hearth.model import InvocationRecord
from hearth.telemetry.console import format_record
from hearth.telemetry.records import InstanceOutput

Entry = dict[str, Any]
STORED = "record"  # the type of a stored invocation (its record's fields), before ``readable`` makes its entry
FORMATS = ("text", "json", "lambda-json")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Lambda's telemetry statuses are success, failure, error and timeout; Hearth's are finer.
_LAMBDA_STATUS = {"success": "success", "error": "error", "timeout": "timeout", "oom": "failure",
                  "crash": "failure", "throttled": "failure"}


def record_entry(record: InvocationRecord) -> Entry:
    """The stored entry of one invocation (see the module docstring for its line times)."""
    end = record.start + record.duration_ms / 1000
    start, finish = round(record.start, 3), round(end, 3)
    lines = []
    if record.status != "throttled":  # a throttled call never ran: no lines, as the console prints none
        before = len(record.init_log_lines) + 1  # Init lines and START
        own = record.log_times if len(record.log_times) == len(record.log_lines) else ()
        for index, line in enumerate(format_record(record)):
            mine = index - before  # the function's own lines come right after START, in order
            if 0 <= mine < len(own):  # read a little after it was written: never after the invocation's end
                moment = min(max(round(own[mine], 3), start), finish)
            else:
                moment = start if index < before else finish
            lines.append({"time": moment, "message": line})
    return {"type": "invocation", "time": finish, "request_id": record.request_id, "function": record.function,
            "version": record.version, "trigger": record.trigger, "start": start,
            "duration_ms": round(record.duration_ms, 3), "billed_ms": record.billed_ms,
            "memory_mb": record.memory_mb, "max_memory_mb": record.max_memory_mb,
            "init_ms": None if record.init_ms is None else round(record.init_ms, 3), "status": record.status,
            "error_type": record.error_type, "cold": record.cold, "trace_id": record.trace_id,
            "alias": record.alias, "lines": lines}


def stored_record(record: InvocationRecord) -> bytes:
    """An invocation as the store writes it: the record's own fields, tagged, which costs one ``orjson`` call (the
    writer thread shares the interpreter with the event loop); ``readable`` makes the entry when it is read."""
    doc = record._asdict()
    doc["type"] = STORED
    return orjson.dumps(doc)


def readable(doc: Entry) -> Entry:
    """The entry a stored line stands for (``record_entry`` of a stored record; other entries as they are)."""
    if doc.get("type") != STORED:
        return doc
    fields = {name: doc[name] for name in InvocationRecord._fields if name in doc}
    fields["log_lines"] = tuple(fields.get("log_lines", ()))
    fields["init_log_lines"] = tuple(fields.get("init_log_lines", ()))
    fields["log_times"] = tuple(fields.get("log_times", ()))
    return record_entry(InvocationRecord(**fields))


def output_entry(output: InstanceOutput, received: float) -> Entry:
    """The stored entry of an instance's own output, timed when the platform received it."""
    moment = round(received, 3)
    return {"type": "output", "time": moment, "function": output.function, "version": output.version,
            "instance_id": output.instance_id, "lines": [{"time": moment, "message": line} for line in output.lines]}


def text_lines(entry: Entry, prefix_function: bool = False) -> list[str]:
    """The entry's lines as the ``hearth dev`` console prints them (``[function] `` first if asked)."""
    lines = [line["message"] for line in entry["lines"]]
    if prefix_function:
        return [f"[{entry['function']}] {line}" for line in lines]
    return lines


def iso_time(moment: float) -> str:
    """``2024-05-15T12:00:00.123Z``, as Lambda's JSON logs write times."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lambda_events(entry: Entry) -> list[dict[str, Any]]:
    """The entry in Lambda's JSON log format: ``platform.start``, the function's lines as ``function`` events,
    ``platform.runtimeDone`` and ``platform.report`` (Init lines are ``function`` events before the start)."""
    lines = entry["lines"]
    if entry["type"] == "output":
        return [{"time": iso_time(line["time"]), "type": "function", "message": line["message"]} for line in lines]
    if not lines:
        return []
    rid = entry["request_id"]
    messages = [line["message"] for line in lines]
    init_count = messages.index(f"START RequestId: {rid} Version: {entry['version']}")  # Init lines come first
    events: list[dict[str, Any]] = []
    for line in lines[:init_count]:
        events.append({"time": iso_time(line["time"]), "type": "function", "message": line["message"],
                       "requestId": rid})
    start, *own, end, report = lines[init_count:]
    events.append({"time": iso_time(start["time"]), "type": "platform.start",
                   "record": {"requestId": rid, "version": entry["version"]}})
    for line in own:
        events.append({"time": iso_time(line["time"]), "type": "function", "message": line["message"],
                       "requestId": rid})
    status = _LAMBDA_STATUS.get(entry["status"], "failure")
    done: dict[str, Any] = {"requestId": rid, "status": status}
    if entry["error_type"]:
        done["errorType"] = entry["error_type"]
    events.append({"time": iso_time(end["time"]), "type": "platform.runtimeDone", "record": done})
    metrics: dict[str, Any] = {"durationMs": entry["duration_ms"], "billedDurationMs": entry["billed_ms"],
                               "memorySizeMB": entry["memory_mb"], "maxMemoryUsedMB": entry["max_memory_mb"]}
    if entry["init_ms"] is not None:
        metrics["initDurationMs"] = entry["init_ms"]
    events.append({"time": iso_time(report["time"]), "type": "platform.report",
                   "record": {**done, "metrics": metrics}})
    return events


def parse_moment(value: str, now: float) -> float:
    """A point in time as epoch seconds: relative to ``now`` (``10m``, ``2h``, ``7d``), epoch seconds, or ISO 8601
    (a time without zone is UTC); raises ``InvalidParameterValue`` naming the forms."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return now - float(relative.group(1)) * _UNIT_S[relative.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterValue(f"{value!r} is not a time: use a duration back from now (30s, 10m, 2h, 7d), "
                                    "epoch seconds or ISO 8601 (2024-05-15T12:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
