"""The dashboard's HTML building blocks: escaping, the page layout, tables, forms and inline SVG charts.

Every value that came from data (function names, log lines, payloads, error messages) passes through ``esc``
before it is put into markup; the builders here take text and escape it themselves, and return markup (``str``).
Pages are complete documents: they work without JavaScript, which only adds live updates and the slider's label.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from hearth.dashboard.csrf import FIELD

PREFIX = "/dashboard"
NAV = (("Functions", "/"), ("Live logs", "/logs"), ("Schedules", "/schedules"), ("Queues", "/queues"),
       ("Cost", "/cost"), ("Idle", "/idle"))


def esc(value: object) -> str:
    """Text made safe for an element's content or a quoted attribute."""
    return html.escape(str(value), quote=True)


def url(path: str, **query: str) -> str:
    """A dashboard URL (``path`` already quoted), with a query string when given; escape it for an attribute."""
    target = PREFIX + path
    kept = {key: value for key, value in query.items() if value}
    return target + ("?" + urlencode(kept) if kept else "")


def segment(name: str) -> str:
    """One path segment (a function, alias, schedule name) quoted for a URL."""
    return quote(name, safe="")


def layout(title: str, body: str, csrf: str | None, signed_in_as: str = "") -> str:
    """A whole page: head, navigation (when signed in), the body markup."""
    nav = ""
    if csrf is not None:
        links = "".join(f'<a href="{esc(url(path))}">{esc(label)}</a>' for label, path in NAV)
        who = f'<span class="who">{esc(signed_in_as)}</span>' if signed_in_as else ""
        nav = (f'<header><a class="brand" href="{esc(url("/"))}">Hearth</a><nav>{links}</nav>{who}'
               f'<form method="post" action="{esc(url("/signout"))}">{hidden_csrf(csrf)}'
               '<button type="submit">Sign out</button></form></header>')
    meta = f'<meta name="csrf-token" content="{esc(csrf)}">' if csrf is not None else ""
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{meta}"
            f"<title>{esc(title)} · Hearth</title>"
            f'<link rel="stylesheet" href="{esc(url("/static/dashboard.css"))}">'
            f'<script src="{esc(url("/static/dashboard.js"))}" defer></script></head>'
            f"<body>{nav}<main><h1>{esc(title)}</h1>{body}</main></body></html>\n")


def hidden_csrf(csrf: str) -> str:
    return f'<input type="hidden" name="{FIELD}" value="{esc(csrf)}">'


def post_button(action: str, label: str, csrf: str, confirm: str = "", **fields: str) -> str:
    """A one-button form that POSTs to ``action`` (a dashboard URL) with the CSRF token and ``fields``."""
    extra = "".join(f'<input type="hidden" name="{esc(key)}" value="{esc(value)}">' for key, value in fields.items())
    data = f' data-confirm="{esc(confirm)}"' if confirm else ""
    return (f'<form class="inline" method="post" action="{esc(action)}"{data}>{hidden_csrf(csrf)}{extra}'
            f'<button type="submit">{esc(label)}</button></form>')


def table(headings: Sequence[str], rows: Iterable[Sequence[str]], empty: str = "Nothing yet.",
          css: str = "") -> str:
    """A table; ``rows`` hold markup (escape cell text with ``esc`` first)."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(heading)}</th>" for heading in headings)
    return f'<table class="{esc(css)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def notice(message: str, kind: str = "info") -> str:
    return f'<p class="notice {esc(kind)}" role="status">{esc(message)}</p>'


def sparkline(series: Sequence[float], width: int = 120, height: int = 24, css: str = "spark") -> str:
    """The series as a small inline SVG line (zero: a flat line at the bottom)."""
    if not series:
        return ""
    top = max(max(series), 1e-9)
    step = width / max(len(series) - 1, 1)
    points = " ".join(f"{index * step:.1f},{height - 1 - (value / top) * (height - 2):.1f}"
                      for index, value in enumerate(series))
    label = esc(f"{int(sum(series))} in the window; at most {max(series):g} per slot")
    return (f'<svg class="{esc(css)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{label}"><polyline fill="none" stroke="currentColor" stroke-width="1.5" '
            f'points="{points}"/></svg>')


def figure(value: float) -> str:
    """A chart's value as a person reads it: ``0.25``, ``1,234``, ``<0.001`` (never ``4.31e-07``)."""
    if value == 0:
        return "0"
    if abs(value) < 0.001:
        return "<0.001" if value > 0 else ">-0.001"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3f}".rstrip("0").rstrip(".")


def bars(series: Sequence[float], title: str, since: float, until: float, width: int = 480,
         height: int = 120) -> str:
    """A bar chart of equal time slots from ``since`` to ``until`` with its maximum and its ends labelled."""
    top = max(max(series, default=0.0), 1e-9)
    slot = width / max(len(series), 1)
    rects = "".join(
        f'<rect x="{index * slot + 1:.1f}" y="{height - 16 - (value / top) * (height - 30):.1f}" '
        f'width="{max(slot - 2, 1):.1f}" height="{(value / top) * (height - 30):.1f}"><title>{esc(figure(value))}'
        "</title></rect>"
        for index, value in enumerate(series) if value > 0)
    peak = max(series, default=0.0)
    return (f'<figure class="chart"><figcaption>{esc(title)} <span class="peak">max {esc(figure(peak))}</span>'
            f'</figcaption><svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{esc(title)}"><g class="bars">{rects}</g>'
            f'<line x1="0" y1="{height - 15}" x2="{width}" y2="{height - 15}" class="axis"/>'
            f'<text x="0" y="{height - 2}" class="tick">{esc(clock(since))}</text>'
            f'<text x="{width}" y="{height - 2}" text-anchor="end" class="tick">{esc(clock(until))}</text>'
            "</svg></figure>")


def lines(named: Mapping[str, Sequence[float | None]], title: str, since: float, until: float, unit: str = "",
          width: int = 480, height: int = 120) -> str:
    """A line per named series over equal time slots (a slot without a value breaks its line), one scale."""
    values = [value for series in named.values() for value in series if value is not None]
    top = max(max(values, default=0.0), 1e-9)
    count = max((len(series) for series in named.values()), default=1)
    slot = width / max(count, 1)
    drawn = []
    for index, series in enumerate(named.values()):
        runs: list[list[str]] = [[]]
        for position, value in enumerate(series):
            if value is None:
                runs.append([])
                continue
            y = height - 16 - (value / top) * (height - 30)
            runs[-1].append(f"{position * slot + slot / 2:.1f},{y:.1f}")
        for run in runs:
            if len(run) == 1:  # a lone value: a dot, since a line needs two points
                cx, cy = run[0].split(",")
                drawn.append(f'<circle class="series-{index}" cx="{cx}" cy="{cy}" r="2"/>')
            elif run:
                drawn.append(f'<polyline class="series-{index}" fill="none" points="{" ".join(run)}"/>')
    legend = " ".join(f'<span class="legend series-{index}">{esc(name)}</span>' for index, name in enumerate(named))
    return (f'<figure class="chart"><figcaption>{esc(title)} {legend} <span class="peak">max '
            f'{esc(figure(max(values, default=0.0)))}{esc(unit)}</span></figcaption><svg width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
            f'<g class="lines">{"".join(drawn)}</g>'
            f'<line x1="0" y1="{height - 15}" x2="{width}" y2="{height - 15}" class="axis"/>'
            f'<text x="0" y="{height - 2}" class="tick">{esc(clock(since))}</text>'
            f'<text x="{width}" y="{height - 2}" text-anchor="end" class="tick">{esc(clock(until))}</text>'
            "</svg></figure>")


def clock(moment: float | None) -> str:
    """An epoch time as ``2026-11-22 01:02:03`` UTC, or ``—``."""
    if moment is None:
        return "—"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"
