"""``hearth tune --plot``: duration and cost against memory, as a self-contained HTML page (inline SVG, no
dependency) or a PNG (matplotlib, when it is installed).

Memory runs along a log₂ axis (each doubling one step, as sizes are usually chosen); the p50 duration is read on
the left axis, the cost per million invocations on the right. Every size that ran has one point in each series;
the recommended sizes are named under the axis.
"""

from __future__ import annotations

import html
import importlib.util
import math
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 80, 50, 90
DURATION_COLOR, COST_COLOR = "#1f77b4", "#d62728"
FORMATS = (".html", ".htm", ".png")


class PlotError(Exception):
    """The plot cannot be made as asked; the message says what to do instead."""


def check_target(path: Path) -> None:
    """Refuse, before anything runs, a plot that could not be written at the end."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise PlotError(f"--plot {path}: name a .html file (an SVG chart, no dependency) or a .png file "
                        "(needs matplotlib)")
    if suffix == ".png" and importlib.util.find_spec("matplotlib") is None:
        raise PlotError(f"--plot {path}: a PNG needs matplotlib, which is not installed; `pip install matplotlib`, "
                        f"or use --plot {path.with_suffix('.html')} (a self-contained page, no dependency)")


def write_plot(result: dict[str, Any], function: str, path: Path) -> None:
    """Write the chart of a tuning ``result`` (``billing.tuning.report``'s shape) to ``path``."""
    check_target(path)
    if path.suffix.lower() == ".png":
        _write_png(result, function, path)
    else:
        path.write_text(html_page(result, function), encoding="utf-8")


def _points(result: dict[str, Any], key: str) -> list[tuple[int, float]]:
    return [(size["memory_mb"], float(size[key])) for size in result["sizes"] if size[key] is not None]


def _labels(result: dict[str, Any]) -> dict[int, list[str]]:
    labels: dict[int, list[str]] = {}
    for name, memory_mb in result["recommendation"].items():
        if memory_mb is not None:
            labels.setdefault(memory_mb, []).append(name)
    return labels


def html_page(result: dict[str, Any], function: str) -> str:
    """A self-contained HTML page holding the chart as inline SVG."""
    title = f"hearth tune {function}: duration and cost by memory"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2em}</style></head><body>\n"
            f"<h1 style=\"font-size:1.2em\">{html.escape(title)}</h1>\n{svg(result)}\n"
            "<p>Cold starts (the first invocation of each size) are left out of the duration and the cost.</p>\n"
            "</body></html>\n")


def svg(result: dict[str, Any]) -> str:
    """The chart: p50 duration (left axis) and cost per million (right axis) against memory (log₂ axis)."""
    sizes = [size["memory_mb"] for size in result["sizes"]]
    durations, costs = _points(result, "p50_ms"), _points(result, "cost_per_million")
    low, high = math.log2(min(sizes)), math.log2(max(sizes))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(memory_mb: int) -> float:
        return LEFT + (plot_w / 2 if high == low else (math.log2(memory_mb) - low) / (high - low) * plot_w)

    def scale(points: list[tuple[int, float]]) -> float:
        return max((value for _, value in points), default=0.0) * 1.1 or 1.0

    top_ms, top_cost = scale(durations), scale(costs)

    def y(value: float, top: float) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-size="12" font-family="sans-serif">',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    for step in range(6):  # gridlines with both axes' values
        value = step / 5
        level = y(value * top_ms, top_ms)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{level:.1f}" y2="{level:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{level + 4:.1f}" text-anchor="end" fill="{DURATION_COLOR}">'
                     f'{value * top_ms:.3g}</text>')
        parts.append(f'<text x="{LEFT + plot_w + 6}" y="{level + 4:.1f}" fill="{COST_COLOR}">'
                     f'{value * top_cost:.3g}</text>')
    labels = _labels(result)
    for memory_mb in sizes:
        parts.append(f'<text x="{x(memory_mb):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{memory_mb}</text>')
        for row, name in enumerate(labels.get(memory_mb, [])):
            parts.append(f'<text x="{x(memory_mb):.1f}" y="{TOP + plot_h + 36 + 14 * row}" text-anchor="middle" '
                         f'font-style="italic">{name}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">memory (MB)</text>')
    parts.append(f'<text x="16" y="{TOP - 16}" fill="{DURATION_COLOR}">p50 duration (ms)</text>')
    parts.append(f'<text x="{WIDTH - 16}" y="{TOP - 16}" text-anchor="end" fill="{COST_COLOR}">'
                 'cost per 1M invocations ($)</text>')
    for series, points, top, color in (("duration", durations, top_ms, DURATION_COLOR),
                                       ("cost", costs, top_cost, COST_COLOR)):
        line = " ".join(f"{x(memory_mb):.1f},{y(value, top):.1f}" for memory_mb, value in points)
        parts.append(f'<polyline class="{series}-line" points="{line}" fill="none" stroke="{color}" '
                     'stroke-width="2"/>')
        for memory_mb, value in points:
            shown = f"{value:.2f} ms" if series == "duration" else f"${value:.4g} per 1M"
            parts.append(f'<circle class="{series}" data-memory-mb="{memory_mb}" cx="{x(memory_mb):.1f}" '
                         f'cy="{y(value, top):.1f}" r="4" fill="{color}"><title>{memory_mb} MB: {shown}</title>'
                         '</circle>')
    parts.append("</svg>")
    return "\n".join(parts)


def _write_png(result: dict[str, Any], function: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.8))
    FigureCanvasAgg(figure)
    duration_axis = figure.add_subplot()
    cost_axis = duration_axis.twinx()
    for axis, key, color, label in ((duration_axis, "p50_ms", DURATION_COLOR, "p50 duration (ms)"),
                                    (cost_axis, "cost_per_million", COST_COLOR, "cost per 1M invocations ($)")):
        points = _points(result, key)
        axis.plot([memory_mb for memory_mb, _ in points], [value for _, value in points], "o-", color=color)
        axis.set_ylabel(label, color=color)
        axis.set_ylim(bottom=0)
    sizes = [size["memory_mb"] for size in result["sizes"]]
    duration_axis.set_xscale("log", base=2)
    duration_axis.set_xticks(sizes, [str(memory_mb) for memory_mb in sizes])
    duration_axis.set_xlabel("memory (MB)")
    picked = ", ".join(f"{name} {memory_mb} MB" for name, memory_mb in result["recommendation"].items()
                       if memory_mb is not None)
    duration_axis.set_title(f"hearth tune {function}" + (f" — {picked}" if picked else ""))
    figure.tight_layout()
    figure.savefig(path)
