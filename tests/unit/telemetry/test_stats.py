"""Statistics over stored invocations: counts, rate, error and cold shares, nearest-rank percentiles, the series."""

from __future__ import annotations

from typing import Any

from hearth.telemetry.stats import percentile, sparkline, summarize


def stored(function: str, end: float, duration_ms: float, status: str = "success",
           init_ms: float | None = None) -> dict[str, Any]:
    return {"type": "record", "function": function, "start": end - duration_ms / 1000, "duration_ms": duration_ms,
            "status": status, "init_ms": init_ms}


def test_a_window_is_summarized_per_function() -> None:
    docs = [stored("a", 1010, 2.0, init_ms=5.0), stored("a", 1020, 4.0), stored("a", 1030, 6.0, "error"),
            stored("a", 1040, 0.0, "throttled"), stored("b", 1050, 1.0), stored("a", 999, 100.0),  # before
            {"type": "output", "function": "a", "time": 1020, "lines": []}]
    [a, b] = summarize(docs, since=1000, until=1100, slots=10)
    assert (a["function"], a["invocations"], a["errors"], a["throttles"], a["cold"]) == ("a", 4, 2, 1, 1)
    assert a["error_pct"] == 50.0 and round(a["cold_pct"], 2) == 33.33  # of the three that ran
    assert (a["p50_ms"], a["p95_ms"], a["p99_ms"]) == (4.0, 6.0, 6.0)
    assert a["rate_per_s"] == 4 / 100 and a["series"] == [0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert b["invocations"] == 1 and summarize(docs, 1000, 1100, function="b")[0]["function"] == "b"


def test_percentiles_are_nearest_rank_and_the_chart_scales() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and percentile([], 50) is None
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0
    assert sparkline([0, 1, 8]) == " ▁█" and sparkline([0, 0]) == "  "


def test_each_slice_of_the_window_has_its_errors_cold_starts_percentiles_and_concurrency() -> None:
    docs = [stored("a", 1005, 2000.0, init_ms=5.0), stored("a", 1003, 5000.0, "error"),  # both in slice 0
            stored("a", 1035, 10_000.0),  # from 1025 to 1035: half in slice 2, half in slice 3
            stored("a", 1050, 0.0, "throttled")]
    [a] = summarize(docs, since=1000, until=1100, slots=10)
    assert a["series"] == [2, 0, 0, 1, 0, 1, 0, 0, 0, 0]
    assert a["error_series"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0]  # a throttle is an error, and never ran
    assert a["cold_series"] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert a["p50_series"][:4] == [2000.0, None, None, 10_000.0] and a["p99_series"][0] == 5000.0
    # 2 s + 3 s of the first 10 s (the second started at 998, before the window: only its part inside counts)
    assert [round(value, 2) for value in a["concurrency_series"][:4]] == [0.5, 0.0, 0.5, 0.5]
