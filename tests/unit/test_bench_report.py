"""bench/_report.py: reading the scripts' figures back and judging them against the issue's targets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _report  # noqa: E402

COLDSTART_OUT = """| measurement | p50 ms | p99 ms | samples |
|---|---:|---:|---:|
| bare uvicorn GET, fresh connection (HTTP floor) | 0.50 | 0.90 | 20 |
| Hearth cold start GET, fresh connection | 4.10 | 9.80 | 20 |
| Hearth warm GET, fresh connection | 0.70 | 1.20 | 20 |
| Hearth Go (provided) cold start GET, fresh connection | 7.25 | 12.00 | 20 |
"""


def wrk(rps: float, errors: float = 0.0) -> dict[str, float]:
    return {"rps": rps, "p50": 0.001, "p99": 0.004, "requests": rps * 10, "non2xx": errors, "socket_errors": 0.0}


def server(rps: float, **extra: Any) -> dict[str, Any]:
    return {"status": "ok", "c64": wrk(rps), "c1": wrk(rps / 2), **extra}


def test_judge_names_every_missed_target_and_says_when_one_could_not_be_decided() -> None:
    assert _report.judge([("a", True), ("b", True)]) == "met"
    assert _report.judge([("a", False), ("b", None), ("c", False)]) == "MISSED: a; c"
    assert _report.judge([("a", True), ("b", None)]) == "not measured: b"


def test_coldstart_rows_are_read_from_its_table() -> None:
    assert _report.parse_coldstart(COLDSTART_OUT) == {"python": (4.10, 9.80), "go": (7.25, 12.00)}


def test_cold_start_is_met_only_under_5_ms_and_10_times_faster_than_serverless_offline() -> None:
    sls = {"status": "ok", "cold": {"p50": 0.050, "p99": 0.080, "n": 20}}
    rows = _report.cold_rows({"python": (4.1, 9.8), "go": (7.25, 12.0)}, sls)
    assert rows[0].verdict == "met"
    assert "12.2× faster" in rows[0].peers[0]
    assert rows[1].verdict.startswith("MISSED")
    slow = _report.cold_rows({"python": (6.0, 9.8)}, {"status": "ok", "cold": {"p50": 0.040, "p99": 0.1, "n": 5}})
    assert slow[0].verdict == "MISSED: p50 ≤ 5 ms; ≥ 10× serverless-offline"


def test_a_peer_that_did_not_run_leaves_its_target_undecided_and_says_why() -> None:
    peers = {"Hearth": server(6000), "bare uvicorn": server(12000), "functions-framework": server(1000),
             "serverless-offline": {"status": "not run: npm install failed: E404"}}
    throughput = _report.warm_rows(peers)[0]
    assert throughput.peers[0] == "not run: npm install failed: E404"
    assert throughput.verdict == "not measured: ≥ 3× serverless-offline"
    cold = _report.cold_rows({"python": (4.0, 5.0)}, peers["serverless-offline"])[0]
    assert cold.verdict == "not measured: ≥ 10× serverless-offline"


@pytest.mark.parametrize(("uvicorn_rps", "verdict"), [(12000, "met"), (20000, "MISSED: ≥ 35% of bare uvicorn")])
def test_warm_throughput_ratios(uvicorn_rps: float, verdict: str) -> None:
    peers = {"Hearth": server(6000), "bare uvicorn": server(uvicorn_rps), "functions-framework": server(1000),
             "serverless-offline": server(100)}
    row = _report.warm_rows(peers)[0]
    assert row.verdict.split(" (got")[0] == verdict
    assert row.peers[0] == "100 (Hearth: 60.0×)"


def test_a_part_that_failed_still_gives_its_rows() -> None:
    rows = [*_report.burst_rows(None, "not run: burst.py failed: boom"), *_report.many_rows(None),
            *_report.async_rows(None), *_report.proxy_rows(None), *_report.warm_rows(None)]
    text = _report.table(rows)
    assert "not run: burst.py failed: boom" in text
    assert text.count("\n") == len(rows) + 1


def test_async_and_proxy_figures_are_read_from_their_output() -> None:
    async_out = ("| events accepted / s (wrk, 202 once stored) | 5,432 |\n"
                 "| events run / s, first accept to empty store | 2,345 (target >= 2,000: met) |\n")
    assert _report.parse_async(async_out) == {"accepted": 5432.0, "run": 2345.0}
    proxy_out = "Throughput through Hearth / direct: 71% (target >= 60%) met\n" \
                "Added latency through Hearth: p50 85 µs, p99 -3 µs\n"
    assert _report.parse_proxy(proxy_out) == {"ratio": 0.71, "added_p50_us": 85.0, "added_p99_us": -3.0}


def test_burst_and_density_targets() -> None:
    burst = {"n": 200, "seconds": 1.2, "errors": 0, "peak_pss_mib": 500.0, "instances": 200,
             "density": {"uss_mib": 2.3, "pss_mib": 2.6, "fit_half_ram": 5000}}
    rows = _report.burst_rows(burst)
    assert rows[0].verdict == "met"
    assert rows[1].verdict == "MISSED: USS ≤ 2 MiB"
