"""Log capture at the file-descriptor level, attribution to the invocation, and Lambda's START/END/REPORT."""

from __future__ import annotations

import re
import threading

import httpx
from conftest import HearthProcess

REPORT = re.compile(r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\t"
                    r"Memory Size: 128 MB\tMax Memory Used: (?P<mem>\d+) MB(\tInit Duration: \d+\.\d{2} ms)?$")


def expected_lines(rid: str) -> set[str]:
    return {f"stdout line {rid}", f"stderr line {rid}", f"fd line {rid}", f"child line {rid}", f"no newline {rid}"}


def test_every_output_channel_is_captured_and_attributed(core: HearthProcess, gateway: httpx.Client) -> None:
    rid = gateway.get("/noisy").json()["rid"]
    record = core.record(rid)
    assert set(record["log_lines"]) == expected_lines(rid)
    core.wait_for(lambda: any(line.startswith(f"REPORT RequestId: {rid}") for line in core.stdout), 10,
                  "the REPORT line")
    out = core.stdout
    start = out.index(f"START RequestId: {rid} Version: $LATEST")
    end = out.index(f"END RequestId: {rid}")
    assert set(out[start + 1:end]) == expected_lines(rid)
    report = REPORT.match(out[end + 1])
    assert report is not None and report.group("id") == rid
    assert int(report.group("mem")) > 0


def test_init_output_and_init_duration_only_on_cold_start(core: HearthProcess, gateway: httpx.Client) -> None:
    cold = gateway.get("/echo/cold").headers["x-amzn-requestid"]
    warm = gateway.get("/echo/warm").headers["x-amzn-requestid"]
    core.wait_for(lambda: any(line.startswith(f"REPORT RequestId: {warm}") for line in core.stdout), 10,
                  "the REPORT line of the warm call")
    cold_report = next(line for line in core.stdout if line.startswith(f"REPORT RequestId: {cold}"))
    warm_report = next(line for line in core.stdout if line.startswith(f"REPORT RequestId: {warm}"))
    assert "\tInit Duration: " in cold_report
    assert "Init Duration" not in warm_report
    record = core.record(cold)
    assert any(line.startswith("init output from pid") for line in record["init_log_lines"])
    start = core.stdout.index(f"START RequestId: {cold} Version: $LATEST")
    assert core.stdout[start - 1].startswith("init output from pid")  # Init output comes before START


def test_concurrent_invocations_keep_their_own_lines(core: HearthProcess) -> None:
    rids: list[str] = []

    def call() -> None:
        rids.append(httpx.get(f"{core.gateway}/noisy", timeout=30).json()["rid"])

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(rids) == 6
    for rid in rids:
        assert set(core.record(rid)["log_lines"]) == expected_lines(rid)


def test_error_is_written_to_the_log(core: HearthProcess, gateway: httpx.Client) -> None:
    rid = gateway.get("/boom").headers["x-amzn-requestid"]
    record = core.record(rid)
    assert record["status"] == "error" and record["error_type"] == "Custom"
    assert "[ERROR] Custom: it went wrong on purpose" in record["log_lines"]
