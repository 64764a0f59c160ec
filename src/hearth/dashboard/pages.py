"""The dashboard's pages, each a function from the control API's JSON answers to the markup of a ``<main>``.

Inputs are the documents the control API returns (ListFunctions, GetFunction, ``/hearth/stats``, ``/hearth/logs``
entries, …), so what a page shows is what the API says. Every value is escaped here (``html.esc``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hearth.dashboard.html import (
    bars,
    clock,
    esc,
    hidden_csrf,
    lines,
    ms,
    notice,
    pct,
    post_button,
    segment,
    sparkline,
    table,
    url,
)

Doc = Mapping[str, Any]
STATUSES = ("success", "error", "timeout", "throttled", "oom", "crash")
WINDOWS = ("15m", "1h", "6h", "24h", "7d")
MAX_DAYS = 366  # the cost chart's bars


@dataclass(frozen=True)
class InvokeResult:
    """What the invoke form got back: the payload (or the error document), the function error, the log tail."""

    request_id: str
    qualifier: str
    version: str
    payload: str
    function_error: str | None
    log_tail: str


def signin(message: str | None = None) -> str:
    """The sign-in form: the admin access key id and secret, or the bearer token alone."""
    error = notice(message, "error") if message else ""
    return (f'{error}<form class="signin" method="post" action="{esc(url("/signin"))}">'
            '<label>Access key id <input name="access_key_id" autocomplete="username" '
            'placeholder="HK… (leave empty for a bearer token)"></label>'
            '<label>Secret access key or bearer token <input name="secret" type="password" '
            'autocomplete="current-password" required></label>'
            '<button type="submit">Sign in</button></form>'
            '<p class="hint">The admin key is in <code>credentials.json</code> in the data folder of '
            "<code>hearth serve</code>.</p>")


def error_page(message: str, status: int) -> str:
    return notice(message, "error") + f'<p><a href="{esc(url("/"))}">Back to the functions</a> (HTTP {status})</p>'


def _state(disabled: Doc | None) -> str:
    if disabled is None:
        return '<span class="state active">active</span>'
    return f'<span class="state disabled" title="{esc(disabled.get("reason", ""))}">disabled</span>'


def _instances_cell(instances: Sequence[Doc]) -> str:
    idle = sum(1 for item in instances if item.get("state") == "idle")
    busy = sum(1 for item in instances if item.get("state") == "busy")
    provisioned = sum(1 for item in instances if item.get("provisioned"))
    return f'<span class="instances">{idle} idle / {busy} busy / {provisioned} provisioned</span>'


def functions(listing: Sequence[Doc], stats: Mapping[str, Doc], instances: Mapping[str, Sequence[Doc]],
              last: Mapping[str, float], disabled: Mapping[str, Doc]) -> str:
    """Every function with its last hour: ``stats`` by name (``/hearth/stats``), live ``instances`` by name, the
    ``last`` invocation's start, and the ``disabled`` ones."""
    rows = []
    for config in listing:
        name = config["FunctionName"]
        figures = stats.get(name, {})
        rows.append([
            f'<a class="function" href="{esc(url("/functions/" + segment(name)))}">{esc(name)}</a>',
            esc(config.get("Runtime", "")),
            esc(clock(last.get(name))),
            f'{sparkline(figures.get("series") or [0] * 24)}'
            f'{sparkline(figures.get("error_series") or [0] * 24, css="spark errors")} <span class="count">'
            f'{figures.get("invocations", 0)} / {figures.get("errors", 0)} errors</span>',
            esc(ms(figures.get("p95_ms"))),
            esc(pct(figures.get("cold_pct")) if figures else "—"),
            _instances_cell(instances.get(name, ())),
            _state(disabled.get(name)),
        ])
    return table(("Function", "Runtime", "Last invocation", "Invocations / errors (1 h)", "p95", "Cold starts",
                  "Instances", "State"), rows, "No functions yet: deploy a project with `hearth deploy`.",
                 "functions")


def _split(alias: Doc) -> str:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    extra = sum(float(weight) for weight in weights.values())
    parts = [f"{alias['FunctionVersion']}: {round((1 - extra) * 100)}%"]
    parts += [f"{version}: {round(float(weight) * 100)}%" for version, weight in weights.items()]
    return " · ".join(parts)


def _alias_form(name: str, alias: Doc, versions: Sequence[str], csrf: str) -> str:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    current = next(iter(weights), None)
    choices = [version for version in versions if version != alias["FunctionVersion"]]
    if not choices:
        return '<span class="hint">publish another version to split traffic</span>'
    options = "".join(f'<option value="{esc(v)}"{" selected" if v == current else ""}>{esc(v)}</option>'
                      for v in choices)
    weight = round(float(weights[current]) * 100) if current is not None else 0
    action = url(f"/functions/{segment(name)}/aliases/{segment(alias['Name'])}")
    return (f'<form class="weight" method="post" action="{esc(action)}" '
            f'data-confirm="Change the traffic split of alias {esc(alias["Name"])}?" '
            f'data-main="{esc(alias["FunctionVersion"])}">{hidden_csrf(csrf)}'
            f'<input type="hidden" name="revision_id" value="{esc(alias.get("RevisionId", ""))}">'
            f'<label>extra version <select name="version">{options}</select></label> '
            f'<input type="range" name="weight" min="0" max="100" step="1" value="{weight}" '
            f'aria-label="weight of the extra version (%)"> <output class="preview">{weight}%</output> '
            '<button type="submit">Set weight</button></form>')


def function(name: str, info: Doc, versions: Sequence[Doc], aliases: Sequence[Doc], provisioned: Sequence[Doc],
             figures: Doc | None, window: str, since: float, until: float, instances: Sequence[Doc],
             recent: Sequence[Doc], disabled: Doc | None, csrf: str, result: InvokeResult | None = None,
             sent: str = "{}", qualifier: str = "$LATEST", message: str | None = None, error: str | None = None) -> str:
    """One function: state, charts over ``window``, versions and aliases (weights), concurrency, configuration
    (secret names only), the invoke form (with ``result``) and recent invocations."""
    config = info["Configuration"]
    base = "/functions/" + segment(name)
    parts = [notice(message) if message else "", notice(error, "error") if error else ""]
    toggle = (post_button(url(base + "/enable"), "Enable", csrf) if disabled is not None else
              post_button(url(base + "/disable"), "Disable", csrf, confirm=f"Disable {name}? Calls will fail."))
    parts.append(f'<p class="summary">{_state(disabled)} {toggle} {_instances_cell(instances)}</p>')
    # Charts over the chosen window.
    links = " ".join(f'<a href="{esc(url(base, window=w))}"{" class=current" if w == window else ""}>{esc(w)}</a>'
                     for w in WINDOWS)
    figures = figures or {}
    parts.append(f'<section id="charts"><h2>Over the last {esc(window)}</h2><p class="windows">{links}</p>')
    parts.append(f'<p class="figures">{figures.get("invocations", 0)} invocations, {figures.get("errors", 0)} '
                 f'errors, {figures.get("throttles", 0)} throttled; p50 {esc(ms(figures.get("p50_ms")))}, '
                 f'p95 {esc(ms(figures.get("p95_ms")))}, p99 {esc(ms(figures.get("p99_ms")))}; cold starts '
                 f'{esc(pct(figures.get("cold_pct")) if figures else "—")}</p>')
    empty = [0] * 24
    parts.append('<div class="charts">'
                 + bars(figures.get("series") or empty, "Invocations", since, until)
                 + bars(figures.get("error_series") or empty, "Errors", since, until)
                 + lines({"p50": figures.get("p50_series") or [], "p99": figures.get("p99_series") or []},
                         "Duration", since, until, " ms")
                 + bars(figures.get("cold_series") or empty, "Cold starts", since, until)
                 + bars(figures.get("concurrency_series") or empty, "Concurrency (mean)", since, until)
                 + "</div></section>")
    # Invoke.
    qualifiers = ["$LATEST"] + [v["Version"] for v in versions if v["Version"] != "$LATEST"]
    qualifiers += [alias["Name"] for alias in aliases]
    chosen = result.qualifier if result is not None else qualifier
    options = "".join(f'<option value="{esc(q)}"{" selected" if q == chosen else ""}>{esc(q)}</option>'
                      for q in qualifiers)
    parts.append(f'<section id="invoke"><h2>Invoke</h2><form class="invoke" method="post" '
                 f'action="{esc(url(base + "/invoke"))}">{hidden_csrf(csrf)}'
                 f'<label>Qualifier <select name="qualifier">{options}</select></label>'
                 f'<label>JSON payload <textarea name="payload" rows="4" spellcheck="false">{esc(sent)}'
                 '</textarea></label><button type="submit">Invoke</button></form>')
    if result is not None:
        outcome = (f'<span class="status error">{esc(result.function_error)}</span>' if result.function_error
                   else '<span class="status success">success</span>')
        parts.append(f'<div class="result" id="invoke-result"><p>{outcome} version {esc(result.version)}, request '
                     f'<a href="{esc(url(base + "/invocations/" + segment(result.request_id)))}">'
                     f'{esc(result.request_id)}</a></p><h3>Result</h3><pre class="payload">{esc(result.payload)}'
                     f'</pre><h3>Log</h3><pre class="log-tail">{esc(result.log_tail)}</pre></div>')
    parts.append("</section>")
    # Recent invocations.
    rows = [[f'<a href="{esc(url(base + "/invocations/" + segment(entry["request_id"])))}">'
             f'{esc(clock(entry.get("start")))}</a>',
             f'<code>{esc(entry["request_id"])}</code>', esc(entry.get("version", "")),
             esc(entry.get("trigger", "")), f'<span class="status {esc(entry.get("status", ""))}">'
             f'{esc(entry.get("status", ""))}</span>', esc(ms(entry.get("duration_ms"))),
             "cold" if entry.get("cold") else ""]
            for entry in reversed(recent)]
    parts.append('<section id="recent"><h2>Recent invocations</h2>'
                 + table(("Started", "Request id", "Version", "Trigger", "Status", "Duration", ""), rows,
                         "No invocations yet.", "recent") + "</section>")
    # Versions and aliases.
    version_names = [v["Version"] for v in versions if v["Version"] != "$LATEST"]
    parts.append('<section id="versions"><h2>Versions</h2>' + table(
        ("Version", "Description", "Last modified", "Code SHA-256"),
        ([esc(v["Version"]), esc(v.get("Description", "")), esc(v.get("LastModified", "")),
          f'<code>{esc(v.get("CodeSha256", ""))[:16]}</code>'] for v in versions)) + "</section>")
    alias_rows = [[f'<span class="alias-name">{esc(alias["Name"])}</span>', esc(alias["FunctionVersion"]),
                   f'<span class="split">{esc(_split(alias))}</span>',
                   _alias_form(name, alias, version_names, csrf)] for alias in aliases]
    parts.append('<section id="aliases"><h2>Aliases</h2>' + table(
        ("Alias", "Version", "Traffic split", "Change the weight"), alias_rows, "No aliases.", "aliases")
        + "</section>")
    # Concurrency and configuration.
    reserved = (info.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    provisioned_rows = [[esc(item.get("FunctionArn", "").rsplit(":", 1)[-1]),
                         esc(item.get("RequestedProvisionedConcurrentExecutions", "")),
                         esc(item.get("AvailableProvisionedConcurrentExecutions", "")), esc(item.get("Status", ""))]
                        for item in provisioned]
    parts.append('<section id="concurrency"><h2>Concurrency</h2>'
                 f'<p>Reserved: {esc("unreserved" if reserved is None else reserved)}</p>'
                 + table(("Qualifier", "Provisioned", "Ready", "Status"), provisioned_rows,
                         "No provisioned concurrency.") + "</section>")
    secrets = (config.get("Secrets") or {}).get("Names") or []
    env = sorted((config.get("Environment") or {}).get("Variables") or {})
    facts = [("Runtime", config.get("Runtime", "")), ("Handler", config.get("Handler", "")),
             ("Memory", f'{config.get("MemorySize", "")} MB'), ("Timeout", f'{config.get("Timeout", "")} s'),
             ("Description", config.get("Description", "")), ("Last modified", config.get("LastModified", "")),
             ("Environment variables", ", ".join(env) or "none"), ("Secrets", ", ".join(secrets) or "none")]
    parts.append('<section id="configuration"><h2>Configuration</h2><dl>'
                 + "".join(f"<dt>{esc(key)}</dt><dd>{esc(value)}</dd>" for key, value in facts)
                 + "</dl><p class=\"hint\">Names only: values of variables and secrets are not shown.</p></section>")
    return "".join(parts)


def invocation(name: str, entry: Doc | None, request_id: str) -> str:
    """One invocation's facts and its log lines."""
    back = f'<p><a href="{esc(url("/functions/" + segment(name)))}">Back to {esc(name)}</a></p>'
    if entry is None:
        return notice(f"No log entry for request {request_id} of {name} (yet).", "error") + back
    facts = [("Request id", entry["request_id"]), ("Version", entry.get("version", "")),
             ("Trigger", entry.get("trigger", "")), ("Status", entry.get("status", "")),
             ("Error type", entry.get("error_type") or "—"), ("Started", clock(entry.get("start"))),
             ("Duration", ms(entry.get("duration_ms"))), ("Billed", f'{entry.get("billed_ms", "")} ms'),
             ("Memory used", f'{entry.get("max_memory_mb", "")} of {entry.get("memory_mb", "")} MB'),
             ("Init", ms(entry.get("init_ms")))]
    text = "\n".join(line["message"] for line in entry.get("lines", ()))
    return (back + "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts) + "</dl>"
            f'<h2>Log</h2><pre class="log">{esc(text)}</pre>')


def log_line(entry: Doc) -> list[dict[str, Any]]:
    """An entry's lines as the live log page shows them (JSON for the page's script; it sets them as text)."""
    key = entry.get("request_id") or f'{entry.get("instance_id", "")}@{entry.get("time", "")}'
    return [{"key": f"{key}#{index}", "time": line["time"], "function": entry.get("function", ""),
             "status": entry.get("status", ""), "message": line["message"]}
            for index, line in enumerate(entry.get("lines", ()))]


def logs(names: Sequence[str], function: str, text: str, status: str, entries: Sequence[Doc], stream: str) -> str:
    """Live logs: a filter form, the backlog, and a list the page's script appends to from ``stream`` (server-sent
    events)."""
    functions_options = '<option value="">all functions</option>' + "".join(
        f'<option value="{esc(n)}"{" selected" if n == function else ""}>{esc(n)}</option>' for n in names)
    status_options = '<option value="">any status</option>' + "".join(
        f'<option value="{esc(s)}"{" selected" if s == status else ""}>{esc(s)}</option>' for s in STATUSES)
    form = (f'<form class="filters" method="get" action="{esc(url("/logs"))}">'
            f'<label>Function <select name="function">{functions_options}</select></label>'
            f'<label>Text <input name="filter" value="{esc(text)}"></label>'
            f'<label>Status <select name="status">{status_options}</select></label>'
            '<button type="submit">Apply</button> <label><input type="checkbox" id="follow" checked> follow</label>'
            "</form>")
    backlog = "".join(_live_line(line) for entry in entries for line in log_line(entry))
    return (form + f'<ol id="live-log" class="log" data-stream="{esc(stream)}" aria-live="polite">{backlog}</ol>'
            '<p class="hint">New lines appear as they are stored.</p>')


def _live_line(line: Doc) -> str:
    return (f'<li data-key="{esc(line["key"])}"><time>{esc(clock(line["time"]))}</time> '
            f'<span class="fn">[{esc(line["function"])}]</span> {esc(line["message"])}</li>')


def schedules(items: Sequence[Doc], csrf: str) -> str:
    rows = []
    for item in items:
        action = url(f"/schedules/{segment(item['name'])}/{'resume' if item.get('paused') else 'pause'}")
        state = "paused" if item.get("paused") else ("held: function disabled" if item.get("function_disabled")
                                                     else "running")
        rows.append([esc(item["name"]), esc(item.get("target", "")),
                     esc(f'{item.get("expression", "")} {item.get("timezone", "")}'),
                     esc(item.get("next") or "—"), esc(item.get("last") or "—"),
                     f'<span class="state">{esc(state)}</span>',
                     post_button(action, "Resume" if item.get("paused") else "Pause", csrf)])
    return table(("Schedule", "Target", "Expression", "Next fire", "Last fire", "State", ""), rows,
                 "No schedules.", "schedules")


def queues(items: Sequence[Doc], now: float) -> str:
    rows = [[esc(item["name"]), esc(item.get("visible", 0)), esc(item.get("in_flight", 0)),
             esc(item.get("delayed", 0)),
             esc(_age(None if item.get("oldest_sent_at") is None else now - item["oldest_sent_at"])),
             esc(item.get("dead_letter_queue") or "—"), esc(item.get("max_receive_count") or "—")]
            for item in items]
    return table(("Queue", "Visible", "In flight", "Delayed", "Oldest message", "Dead-letter queue",
                  "Max receives"), rows, "No queues.", "queues")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cost(by_function: Doc, by_day: Doc) -> str:
    def rows_of(report: Doc, key: str) -> list[list[str]]:
        return [[esc(line.get(key, "")), esc(line.get("requests", "")), esc(line.get("gb_seconds", "")),
                 esc(line.get("cost", ""))] for line in report.get("lines", ())]

    total = by_function.get("total", {})
    chart = ""
    if by_day.get("lines"):
        costs = {line.get("day"): float(line.get("cost") or 0) for line in by_day["lines"]}
        first = datetime.fromtimestamp(by_day["since"], UTC).date()
        count = min((datetime.fromtimestamp(by_day["until"], UTC).date() - first).days + 1, MAX_DAYS)
        days = [costs.get((first + timedelta(days=index)).isoformat(), 0.0) for index in range(count)]
        chart = bars(days, "Cost per day (UTC)", by_day["since"], by_day["until"])
    return (f'<p class="figures">Since {esc(clock(by_function.get("since")))}: {esc(total.get("cost", "0"))} '
            f'{esc(by_function.get("currency", "USD"))}</p>{chart}<h2>By function</h2>'
            + table(("Function", "Requests", "GB-seconds", "Cost"), rows_of(by_function, "function"),
                    "No metered usage.", "cost")
            + "<h2>By day</h2>" + table(("Day", "Requests", "GB-seconds", "Cost"), rows_of(by_day, "day"),
                                        "No metered usage.", "cost-days"))


def idle(report: Doc, csrf: str) -> str:
    rows = []
    for item in report.get("functions", ()):
        name = item["function"]
        base = "/functions/" + segment(name)
        toggle = (post_button(url(base + "/enable"), "Enable", csrf) if item.get("disabled") else
                  post_button(url(base + "/disable"), "Disable", csrf, confirm=f"Disable {name}?"))
        rows.append([f'<a href="{esc(url(base))}">{esc(name)}</a>', esc(item.get("last_invoked") or "never"),
                     esc(item.get("idle_days", "")), esc(item.get("provisioned", 0)),
                     _state(item.get("disabled")), toggle])
    return (f'<p class="hint">Functions without invocations for {esc(report.get("days", ""))} days, and disabled '
            "ones.</p>" + table(("Function", "Last invoked", "Idle days", "Provisioned", "State", ""), rows,
                                "No idle functions.", "idle"))
