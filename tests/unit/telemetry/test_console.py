"""The ``hearth dev`` console lines: START / the function's lines / END / REPORT, exactly as Lambda prints them."""

from __future__ import annotations

from hearth.model import InvocationRecord
from hearth.telemetry.console import format_record, report_line

WARM = InvocationRecord(
    request_id="8f5c0e3a-1b2c-4d5e-8f90-123456789abc", function="hello", version="$LATEST", trigger="http",
    start=1_700_000_000.0, duration_ms=1.234, billed_ms=2, memory_mb=128, max_memory_mb=9, init_ms=None,
    status="success", error_type=None, log_lines=("hello from the handler",),
)
COLD = WARM._replace(init_ms=0.8, init_log_lines=("loading model",))
RID = WARM.request_id


def test_report_line_of_a_warm_invocation() -> None:
    assert report_line(WARM) == (f"REPORT RequestId: {RID}\tDuration: 1.23 ms\tBilled Duration: 2 ms\t"
                                 "Memory Size: 128 MB\tMax Memory Used: 9 MB")


def test_report_line_of_a_cold_invocation_adds_init_duration() -> None:
    assert report_line(COLD) == (f"REPORT RequestId: {RID}\tDuration: 1.23 ms\tBilled Duration: 2 ms\t"
                                 "Memory Size: 128 MB\tMax Memory Used: 9 MB\tInit Duration: 0.80 ms")


def test_durations_have_two_decimals() -> None:
    record = WARM._replace(duration_ms=1500.0, billed_ms=1500, init_ms=123.456)
    assert "\tDuration: 1500.00 ms\t" in report_line(record)
    assert report_line(record).endswith("\tInit Duration: 123.46 ms")


def test_a_warm_invocation_prints_start_its_lines_end_and_report() -> None:
    assert format_record(WARM) == [
        f"START RequestId: {RID} Version: $LATEST",
        "hello from the handler",
        f"END RequestId: {RID}",
        report_line(WARM),
    ]


def test_init_lines_come_before_start() -> None:
    assert format_record(COLD) == [
        "loading model",
        f"START RequestId: {RID} Version: $LATEST",
        "hello from the handler",
        f"END RequestId: {RID}",
        report_line(COLD),
    ]


def test_a_failed_invocation_still_prints_its_lines() -> None:
    record = WARM._replace(status="error", error_type="KeyError", log_lines=("[ERROR] KeyError",))
    assert format_record(record)[1:3] == ["[ERROR] KeyError", f"END RequestId: {RID}"]


def test_a_throttled_call_prints_nothing() -> None:
    record = COLD._replace(status="throttled", error_type="TooManyRequestsException")
    assert format_record(record) == []
