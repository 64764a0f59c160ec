"""Page rendering: everything that came from data is escaped (names, log lines, payloads), and the figures shown
are the API's."""

from __future__ import annotations

from typing import Any

from hearth.dashboard import html, pages

EVIL = '<script>alert("x")</script>'


def config(name: str, **extra: Any) -> dict[str, Any]:
    return {"FunctionName": name, "Runtime": "python", "Handler": "app.handler", "MemorySize": 128, "Timeout": 3,
            "Version": "$LATEST", "Description": "", "LastModified": "", "CodeSha256": "abc", **extra}


def entry(request_id: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "invocation", "request_id": request_id, "function": "fn", "version": "$LATEST",
            "trigger": "invoke", "start": 1_700_000_000.0, "time": 1_700_000_000.5, "duration_ms": 12.5,
            "status": "success", "cold": False, "lines": [{"time": 1_700_000_000.1, "message": message}], **extra}


def test_the_layout_escapes_the_title_and_carries_the_csrf_token() -> None:
    page = html.layout(EVIL, "<p>body</p>", 'tok"en')
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; · Hearth" in page
    assert 'name="csrf" value="tok&quot;en"' in page and 'content="tok&quot;en"' in page
    assert "Sign out" in page


def test_a_page_without_a_session_has_no_navigation_and_no_token() -> None:
    page = html.layout("Sign in", pages.signin("wrong <key>"), None)
    assert "Sign out" not in page and "csrf" not in page
    assert "wrong &lt;key&gt;" in page


def test_the_functions_list_escapes_names_and_shows_the_figures() -> None:
    body = pages.functions(
        [config(EVIL), config("quiet")],
        {EVIL: {"invocations": 7, "errors": 2, "p95_ms": 41.25, "cold_pct": 50.0, "series": [0] * 23 + [7]}},
        {EVIL: [{"state": "idle", "provisioned": True}, {"state": "busy", "provisioned": False}]},
        {EVIL: 1_700_000_000.0}, {"quiet": {"reason": "idle 30 days"}})
    assert "<script>" not in body
    assert "&lt;script&gt;" in body
    assert "/dashboard/functions/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E" in body  # quoted in the link
    assert "7 / 2 errors" in body and "41.2 ms" in body and "50%" in body
    assert "1 idle / 1 busy / 1 provisioned" in body
    assert "2023-11-14 22:13:20" in body  # the last invocation
    assert 'class="state disabled" title="idle 30 days"' in body and 'class="state active"' in body
    assert "<polyline" in body


def test_the_function_page_escapes_log_lines_payloads_and_errors() -> None:
    info = {"Configuration": config("fn", Secrets={"Names": ["DB_PASSWORD"]},
                                    Environment={"Variables": {"MODE": "secret-value"}}),
            "Concurrency": {"ReservedConcurrentExecutions": 5}}
    versions = [config("fn"), config("fn", Version="1"), config("fn", Version="2")]
    aliases = [{"Name": "live", "FunctionVersion": "1", "RevisionId": "r1",
                "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}}]
    result = pages.InvokeResult("rid-1", "$LATEST", "$LATEST", '{"echo": "' + EVIL + '"}', None,
                                "START\n" + EVIL + "\nREPORT RequestId: rid-1\tDuration: 1 ms")
    body = pages.function("fn", info, versions, aliases, [], {"invocations": 3, "series": [1, 2]}, "1h", 0.0,
                          3600.0, [], [entry("rid-1", EVIL)], None, "tok", result, sent=EVIL, error=EVIL)
    assert "<script>" not in body
    assert body.count("&lt;script&gt;") >= 4  # the payload sent, the result, the log tail, the recent call's error
    assert "REPORT RequestId: rid-1" in body
    assert "1: 75% · 2: 25%" in body  # the alias's split
    assert 'type="range" name="weight" min="0" max="100" step="1" value="25"' in body
    assert 'name="revision_id" value="r1"' in body
    assert "DB_PASSWORD" in body and "MODE" in body and "secret-value" not in body  # names only
    assert "Reserved: 5" in body
    assert "/dashboard/functions/fn/invocations/rid-1" in body


def test_an_alias_without_another_version_offers_no_slider() -> None:
    info = {"Configuration": config("fn")}
    aliases = [{"Name": "live", "FunctionVersion": "1", "RevisionId": "r"}]
    body = pages.function("fn", info, [config("fn"), config("fn", Version="1")], aliases, [], None, "1h", 0.0, 1.0,
                          [], [], None, "tok")
    assert "1: 100%" in body and 'type="range"' not in body
    assert "publish another version" in body


def test_an_invocation_page_shows_its_lines_as_text() -> None:
    body = pages.invocation("fn", entry("rid-1", "line with <b>markup</b> & more", status="error",
                                        error_type="Runtime.ExitError"), "rid-1")
    assert "line with &lt;b&gt;markup&lt;/b&gt; &amp; more" in body
    assert "Runtime.ExitError" in body
    assert "No log entry" in pages.invocation("fn", None, "<rid>") and "&lt;rid&gt;" in pages.invocation(
        "fn", None, "<rid>")


def test_the_live_log_page_escapes_the_backlog_and_the_filters() -> None:
    body = pages.logs(["fn", EVIL], EVIL, '"><img src=x>', "error", [entry("rid-1", EVIL)],
                      "/dashboard/logs/stream?since=1&filter=%22")
    assert "<script>" not in body and "<img" not in body
    assert 'value="&quot;&gt;&lt;img src=x&gt;"' in body
    assert 'data-stream="/dashboard/logs/stream?since=1&amp;filter=%22"' in body
    assert '<option value="error" selected>' in body
    assert 'data-key="rid-1#0"' in body


def test_log_lines_for_the_script_keep_one_key_per_line() -> None:
    two = entry("rid-1", "a")
    two["lines"].append({"time": 2.0, "message": "b"})
    assert [line["key"] for line in pages.log_line(two)] == ["rid-1#0", "rid-1#1"]
    output = {"type": "output", "function": "srv", "instance_id": 3, "time": 5.0,
              "lines": [{"time": 5.0, "message": "x"}]}
    assert pages.log_line(output)[0]["key"] == "3@5.0#0"


def test_schedules_queues_and_idle_pages_escape_and_offer_their_actions() -> None:
    schedules = pages.schedules([{"name": EVIL, "target": "fn", "expression": "rate(1 day)", "timezone": "UTC",
                                  "paused": True, "next": None, "last": "2026-11-21T00:00:00Z"}], "tok")
    assert "<script>" not in schedules and "Resume" in schedules and "paused" in schedules
    assert "/resume" in schedules
    queues = pages.queues([{"name": "inbox", "visible": 3, "in_flight": 1, "delayed": 0, "oldest_sent_at": 100.0,
                            "dead_letter_queue": "inbox-failed", "max_receive_count": 3}], now=400.0)
    assert "5 min" in queues and "inbox-failed" in queues
    idle = pages.idle({"days": 30, "functions": [{"function": EVIL, "last_invoked": None, "idle_days": 31.5,
                                                  "provisioned": 0, "disabled": None}]}, "tok")
    assert "<script>" not in idle and "never" in idle and "Disable" in idle


def test_the_cost_page_lists_functions_and_days() -> None:
    by_function = {"since": 0.0, "currency": "USD", "total": {"cost": "0.0042"},
                   "lines": [{"function": "fn", "requests": 10, "gb_seconds": "1.5", "cost": "0.0042"}]}
    by_day = {"since": 1_763_596_800.0, "until": 1_763_769_600.0,  # 2025-11-20 to 2025-11-22, midnights
              "lines": [{"day": "2025-11-21", "requests": 10, "gb_seconds": "1.5", "cost": "0.0042"}]}
    body = pages.cost(by_function, by_day)
    assert "0.0042 USD" in body and "2025-11-21" in body and "<td>fn</td>" in body
    assert "Cost per day" in body and body.count("<rect") == 1  # the chart over time: three days, one spent
    assert 'x="161.0"' in body  # the second of three bars


def test_charts_are_inline_svg_scaled_to_their_maximum() -> None:
    spark = html.sparkline([0, 5, 10])
    assert spark.startswith("<svg") and "15 in the window; at most 10 per slot" in spark
    chart = html.bars([0, 2, 4], "Invocations", 0.0, 60.0)
    assert chart.count("<rect") == 2 and "max 4" in chart


def test_a_line_chart_breaks_where_a_slot_has_no_value() -> None:
    chart = html.lines({"p50": [1.0, 2.0, None, 4.0], "p99": [3.0, None, None, None]}, "Duration", 0.0, 60.0, " ms")
    assert chart.count("<polyline") == 1 and chart.count("<circle") == 2  # p50: a line, then a lone point; p99: one
    assert "max 4 ms" in chart and 'class="legend series-1">p99<' in chart


def test_chart_figures_read_as_numbers_not_exponents() -> None:
    from hearth.dashboard.html import bars, figure

    assert [figure(v) for v in (0, 4.31e-07, 0.25, 0.1234, 12.5, 999.9996, 1234.4)] == [
        "0", "<0.001", "0.25", "0.123", "12.5", "1000", "1,234"]
    chart = bars([0.0, 4.31e-07], "Concurrency (mean)", 0.0, 60.0)
    assert "max &lt;0.001" in chart and "e-07" not in chart
