"""Log entries shown as console text and as Lambda's JSON log events; times and sizes as users write them."""

from __future__ import annotations

import pytest

from hearth.config.settings import parse_duration, parse_size
from hearth.errors import ConfigError, InvalidParameterValue
from hearth.model import InvocationRecord
from hearth.telemetry.logformat import iso_time, lambda_events, output_entry, parse_moment, record_entry, text_lines
from hearth.telemetry.records import InstanceOutput

RID = "8f5c0e3a-1b2c-4d5e-8f90-123456789abc"
COLD = InvocationRecord(request_id=RID, function="hello", version="$LATEST", trigger="invoke", start=1_700_000_000.0,
                        duration_ms=12.5, billed_ms=13, memory_mb=128, max_memory_mb=30, init_ms=80.25,
                        status="error", error_type="Runtime.Error", log_lines=("working",),
                        init_log_lines=("loading",))


def test_text_is_the_console_lines_optionally_prefixed() -> None:
    entry = record_entry(COLD)
    assert text_lines(entry)[:4] == ["loading", f"START RequestId: {RID} Version: $LATEST", "working",
                                     f"END RequestId: {RID}"]
    assert text_lines(entry)[4].startswith(f"REPORT RequestId: {RID}\tDuration: 12.50 ms")
    assert text_lines(entry, prefix_function=True)[2] == "[hello] working"


def test_a_throttled_invocation_is_stored_without_lines() -> None:
    entry = record_entry(COLD._replace(status="throttled", init_ms=None))
    assert entry["lines"] == [] and entry["status"] == "throttled"
    assert lambda_events(entry) == []


def test_lambda_json_events() -> None:
    events = lambda_events(record_entry(COLD))
    assert [event["type"] for event in events] == ["function", "platform.start", "function", "platform.runtimeDone",
                                                   "platform.report"]
    assert events[0] == {"time": "2023-11-14T22:13:20.000Z", "type": "function", "message": "loading",
                         "requestId": RID}
    assert events[1]["record"] == {"requestId": RID, "version": "$LATEST"}
    assert events[2]["message"] == "working" and events[2]["time"] == "2023-11-14T22:13:20.013Z"
    assert events[4] == {"time": "2023-11-14T22:13:20.013Z", "type": "platform.report",
                         "record": {"requestId": RID, "status": "error", "errorType": "Runtime.Error",
                                    "metrics": {"durationMs": 12.5, "billedDurationMs": 13, "memorySizeMB": 128,
                                                "maxMemoryUsedMB": 30, "initDurationMs": 80.25}}}


def test_a_warm_report_has_no_init_duration() -> None:
    report = lambda_events(record_entry(COLD._replace(init_ms=None, init_log_lines=())))[-1]
    assert "initDurationMs" not in report["record"]["metrics"]


def test_instance_output_is_function_events() -> None:
    entry = output_entry(InstanceOutput("web", "$LATEST", 2, ("a", "b")), 1_700_000_000.5)
    assert lambda_events(entry) == [{"time": "2023-11-14T22:13:20.500Z", "type": "function", "message": "a"},
                                    {"time": "2023-11-14T22:13:20.500Z", "type": "function", "message": "b"}]


def test_moments() -> None:
    now = 1_700_000_000.0
    assert parse_moment("10m", now) == now - 600
    assert parse_moment("2h", now) == now - 7200
    assert parse_moment("1700000000.5", now) == 1_700_000_000.5
    assert parse_moment("2023-11-14T22:13:20Z", now) == now
    assert parse_moment("2023-11-14T22:13:20", now) == now  # no zone: UTC
    assert iso_time(now) == "2023-11-14T22:13:20.000Z"
    with pytest.raises(InvalidParameterValue, match="10m"):
        parse_moment("yesterday", now)


def test_durations_and_sizes() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("12h") == 43200
    assert parse_duration("90") == 90
    assert parse_size("1GiB") == 1024 ** 3
    assert parse_size("500MB") == 500_000_000
    assert parse_size("64M") == 64 * 1024 ** 2
    for bad in ("0d", "seven days", "-1h"):
        with pytest.raises(ConfigError):
            parse_duration(bad)
    with pytest.raises(ConfigError, match="1GiB"):
        parse_size("lots")
