"""bench/run_all.py's report: the figures each script printed, read back, and one table of figures, ratios and verdicts.

Everything here is a pure function of text or decoded JSON, so the table and its verdicts can be tested without
running a benchmark (tests/unit/test_bench_report.py). A part that did not run gives ``None`` (or a dict with a
``status`` other than ``"ok"``) and its cells read "not run: why"; the table is still written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The targets, on a 2-core machine.
COLD_P50_MS = 5.0
COLD_VS_SLS = 10.0
RPS_VS_SLS = 3.0
RPS_VS_FF = 5.0
RPS_VS_UVICORN = 0.35
BURST_S = 2.0
USS_MIB = 2.0
ADDED_RSS_MB = 100.0

PEERS = ("serverless-offline", "functions-framework", "bare uvicorn")
HEADER = ["#", "figure", "Hearth", *PEERS, "target", "verdict"]
DASH = "—"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a figure, Hearth's value, each peer's, the target and the verdict."""

    number: str
    figure: str
    hearth: str
    peers: tuple[str, str, str] = (DASH, DASH, DASH)
    target: str = DASH
    verdict: str = DASH

    def cells(self) -> list[str]:
        return [self.number, self.figure, self.hearth, *self.peers, self.target, self.verdict]


def judge(checks: Sequence[tuple[str, bool | None]]) -> str:
    """``met`` when every check passed; else ``MISSED: <the ones that failed>``; ``not measured`` when one could not
    be decided (a peer that did not run) and none failed."""
    missed = [label for label, passed in checks if passed is False]
    if missed:
        return "MISSED: " + "; ".join(missed)
    if any(passed is None for _, passed in checks):
        return "not measured: " + "; ".join(label for label, passed in checks if passed is None)
    return "met"


def parse_coldstart(text: str) -> dict[str, tuple[float, float]]:
    """The Hearth cold-start rows of coldstart.py's table: {"python"|"paused"|"go": (p50 ms, p99 ms)}."""
    found = {}
    for key, label in (("python", r"Hearth cold start GET, fresh connection"),
                       ("paused", r"Hearth cold start GET after [\d.]+ ms without a request"),
                       ("go", r"Hearth Go \(provided\) cold start GET, fresh connection")):
        match = re.search(rf"^\| {label} \| ([\d.]+) \| ([\d.]+) \|", text, re.MULTILINE)
        if match:
            found[key] = (float(match.group(1)), float(match.group(2)))
    return found


def parse_async(text: str) -> dict[str, float]:
    """async_events.py's events accepted and run per second."""
    found = {}
    for key, label in (("accepted", r"events accepted / s[^|]*"), ("run", r"events run / s[^|]*")):
        match = re.search(rf"^\| {label}\| ([\d,.]+)", text, re.MULTILINE)
        if match:
            found[key] = float(match.group(1).replace(",", ""))
    return found


def parse_proxy(text: str) -> dict[str, float]:
    """proxy.py's throughput through Hearth / direct (a fraction) and the added p50/p99 on one connection (µs)."""
    found = {}
    ratio = re.search(r"^Throughput through Hearth / direct: (\d+)%", text, re.MULTILINE)
    if ratio:
        found["ratio"] = int(ratio.group(1)) / 100
    added = re.search(r"^Added latency through Hearth: p50 (-?\d+) µs, p99 (-?\d+) µs", text, re.MULTILINE)
    if added:
        found["added_p50_us"], found["added_p99_us"] = float(added.group(1)), float(added.group(2))
    return found


def _ok(peer: dict[str, Any] | None) -> bool:
    return peer is not None and peer.get("status") == "ok"


def _why(peer: dict[str, Any] | None) -> str:
    return "not run" if peer is None else str(peer.get("status", "not run"))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _times(ratio: float) -> str:
    return f"{ratio:.1f}×" if math.isfinite(ratio) else "n/a"


def cold_rows(cold: dict[str, tuple[float, float]] | None, sls: dict[str, Any] | None,
              why: str = "not run") -> list[Row]:
    """Figure 1: Hearth's cold starts (ms, from coldstart.py) beside serverless-offline's first call."""
    sls_cold = sls.get("cold") if _ok(sls) and sls is not None else None
    if not cold or "python" not in cold:
        return [Row("1", "cold start p50 / p99, Python, fresh connection", why)]
    p50, p99 = cold["python"]
    sls_cells: tuple[str, str, str] = (_why(sls), DASH, DASH)
    vs: bool | None = None
    if sls_cold and sls_cold.get("n"):
        ratio = sls_cold["p50"] * 1e3 / p50
        sls_cells = (f"first call {_ms(sls_cold['p50'])} / {_ms(sls_cold['p99'])} (Hearth {_times(ratio)} faster)",
                     DASH, DASH)
        vs = ratio >= COLD_VS_SLS
    rows = [Row("1", "cold start p50 / p99, Python, fresh connection", f"{p50:.2f} / {p99:.2f} ms", sls_cells,
                f"p50 ≤ {COLD_P50_MS:g} ms; ≥ {COLD_VS_SLS:g}× faster than serverless-offline",
                judge([(f"p50 ≤ {COLD_P50_MS:g} ms", p50 <= COLD_P50_MS),
                       (f"≥ {COLD_VS_SLS:g}× serverless-offline", vs)]))]
    if "paused" in cold:
        paused50, paused99 = cold["paused"]
        rows.append(Row("1", "cold start p50 / p99, Python, each 200 ms after the last answer (how cold starts "
                             "come in real traffic; not one of the issue's figures)",
                        f"{paused50:.2f} / {paused99:.2f} ms"))
    if "go" in cold:
        go50, go99 = cold["go"]
        rows.append(Row("1", "cold start p50 / p99, Go (provided)", f"{go50:.2f} / {go99:.2f} ms",
                        target=f"p50 ≤ {COLD_P50_MS:g} ms", verdict=judge([(f"p50 ≤ {COLD_P50_MS:g} ms",
                                                                            go50 <= COLD_P50_MS)])))
    else:
        rows.append(Row("1", "cold start p50 / p99, Go (provided)", "not run (no Go, or coldstart.py failed)"))
    return rows


def warm_rows(peers: dict[str, dict[str, Any]] | None, why: str = "not run") -> list[Row]:
    """Figure 2: wrk requests/s at 64 connections with Hearth's ratios to each peer, and latency at 1 and 64."""
    peers = peers or {}
    hearth = peers.get("Hearth")
    if not _ok(hearth):
        return [Row("2", "warm throughput and latency", _why(hearth) if hearth else why)]
    assert hearth is not None
    rps = hearth["c64"]["rps"]
    cells: list[str] = []
    checks: list[tuple[str, bool | None]] = []
    for name, target, label in (("serverless-offline", RPS_VS_SLS, f"≥ {RPS_VS_SLS:g}× serverless-offline"),
                                ("functions-framework", RPS_VS_FF, f"≥ {RPS_VS_FF:g}× functions-framework"),
                                ("bare uvicorn", RPS_VS_UVICORN, f"≥ {RPS_VS_UVICORN:.0%} of bare uvicorn")):
        peer = peers.get(name)
        if not _ok(peer):
            cells.append(_why(peer))
            checks.append((label, None))
            continue
        assert peer is not None
        ratio = rps / peer["c64"]["rps"] if peer["c64"]["rps"] else math.inf
        shown = f"{ratio:.0%}" if name == "bare uvicorn" else _times(ratio)
        cells.append(f"{peer['c64']['rps']:,.0f} (Hearth: {shown})")
        checks.append((f"{label} (got {shown})", ratio >= target))
    rows = [Row("2", "warm req/s, wrk -t2 -c64", f"{rps:,.0f}", (cells[0], cells[1], cells[2]),
                f"≥ {RPS_VS_SLS:g}× serverless-offline; ≥ {RPS_VS_FF:g}× functions-framework; "
                f"≥ {RPS_VS_UVICORN:.0%} of bare uvicorn",
                judge(checks))]
    for connections in ("c1", "c64"):
        rows.append(Row("2", f"warm latency p50 / p99, {connections[1:]} connection{'s' * (connections != 'c1')}",
                        _latency(hearth, connections), (_latency(peers.get(PEERS[0]), connections),
                                                        _latency(peers.get(PEERS[1]), connections),
                                                        _latency(peers.get(PEERS[2]), connections))))
    return rows


def _latency(result: dict[str, Any] | None, connections: str) -> str:
    """A server's wrk p50 / p99 at ``connections`` ("c1" or "c64"), with its errors if it had any."""
    if not _ok(result):
        return _why(result)
    assert result is not None
    wrk = result[connections]
    errors = wrk["non2xx"] + wrk["socket_errors"]
    if not wrk["requests"]:
        return f"no answer within the run ({errors:.0f} errors)"
    return f"{wrk['p50'] * 1e3:.2f} / {wrk['p99'] * 1e3:.2f} ms" + (f" ({errors:.0f} errors)" if errors else "")


def burst_rows(burst: dict[str, Any] | None, why: str = "not run") -> list[Row]:
    """Figures 3 and 4: the burst, and the idle instances it left."""
    if not burst:
        return [Row("3", "burst 0 → 200 concurrent, no warm instance", why),
                Row("4", "idle warm instance USS / PSS", why)]
    density = burst["density"]
    return [
        Row("3", f"burst 0 → {burst['n']} concurrent, one cold start each: time to all answered, errors, peak PSS",
            f"{burst['seconds'] * 1e3:.0f} ms, {burst['errors']} errors, {burst['peak_pss_mib']:.0f} MiB "
            f"({burst['instances']} instances)", target=f"≤ {BURST_S:g} s, no errors",
            verdict=judge([(f"≤ {BURST_S:g} s", burst["seconds"] <= BURST_S), ("no errors", burst["errors"] == 0)])),
        Row("4", "idle warm instance USS / PSS (median)", f"{density['uss_mib']:.2f} / {density['pss_mib']:.2f} MiB",
            target=f"USS ≤ {USS_MIB:g} MiB", verdict=judge([(f"USS ≤ {USS_MIB:g} MiB",
                                                              density["uss_mib"] <= USS_MIB)])),
        Row("4", "idle warm instances that fit before 50% of RAM: at what each costs the machine (MemAvailable's "
                 "drop) / at its USS alone",
            f"{density['fit_half_ram_system']:,} ({density['system_mib']:.2f} MiB each) / {density['fit_half_ram']:,}"
            if "fit_half_ram_system" in density else f"{density['fit_half_ram']:,}"),
    ]


def many_rows(many: dict[str, Any] | None, why: str = "not run") -> list[Row]:
    """Figure 5: 2,000 deployed functions."""
    if not many:
        return [Row("5", "2,000 deployed idle functions", why)]
    base, loaded, matching = many["base"], many["loaded"], many["matching"]
    n = loaded["functions"]
    return [
        Row("5", f"platform idle RSS, 1 → {n:,} functions", f"{base['rss_mib']:.1f} → {loaded['rss_mib']:.1f} MiB "
            f"(+{many['added_rss_mb']:.1f} MB)", target=f"≤ {ADDED_RSS_MB:g} MB added",
            verdict=judge([(f"≤ {ADDED_RSS_MB:g} MB", many["added_rss_mb"] <= ADDED_RSS_MB)])),
        Row("5", f"route matching per request, {n:,} routes: static / parameterised (last route)",
            f"{matching['static_last'] * 1e6:.2f} / {matching['param_last'] * 1e6:.1f} µs"),
        Row("5", f"cold start of function {n:,}, fresh connection", _ms(loaded["cold_last_s"])),
        Row("5", f"hearth deploy of {n:,} functions to hearth serve", f"{loaded['deploy_s']:.2f} s"),
    ]


def async_rows(figures: dict[str, float] | None, why: str = "not run") -> list[Row]:
    """Figure 6: asynchronous events with durability on."""
    if not figures or "run" not in figures:
        return [Row("6", "async events/s, durable: accepted / completed", why)]
    return [Row("6", "async events/s, durable: accepted / completed",
                f"{figures.get('accepted', math.nan):,.0f} / {figures['run']:,.0f}")]


def proxy_rows(figures: dict[str, float] | None, why: str = "not run", backend: str = "a Node hello server",
               target: float = 0.60) -> list[Row]:
    """Figure 7: the lazy HTTP runtime's proxy against the same server (``backend``) direct; issue 4 asks for
    ``target`` of the direct throughput."""
    figure = f"http runtime in front of {backend}: req/s through Hearth / direct; added latency p50 / p99 (1 conn)"
    if not figures or "ratio" not in figures:
        return [Row("7", figure, why)]
    added = (f"; {figures['added_p50_us']:+.0f} / {figures['added_p99_us']:+.0f} µs"
             if "added_p50_us" in figures else "")
    return [Row("7", figure, f"{figures['ratio']:.0%}{added}", target=f"≥ {target:.0%} of direct",
                verdict=judge([(f"≥ {target:.0%} of direct (got {figures['ratio']:.0%})",
                                figures["ratio"] >= target)]))]


def table(rows: Sequence[Row]) -> str:
    """The markdown table, left-aligned: its cells are figures with their units and words, not bare numbers."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row.cells()) + " |" for row in rows])
