"""``hearth tune``'s input (memory sizes, the payload) and its plots (an SVG page; a PNG with matplotlib)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import click
import pytest

from hearth.cli.plot import PlotError, check_target, html_page, write_plot
from hearth.cli.tune import parse_payload, parse_sizes


def test_memory_sizes_from_the_command_line() -> None:
    assert parse_sizes("128,256,512,1024,2048") == [128, 256, 512, 1024, 2048]
    assert parse_sizes(" 1024 , 128MB,128") == [128, 1024]
    for bad in ("64", "128,20000", "128,,256", "1.5", "abc", ""):
        with pytest.raises(click.BadParameter, match="from 128 to 10240"):
            parse_sizes(bad)


def test_the_payload_is_inline_json_or_a_file(tmp_path: Path) -> None:
    assert parse_payload('{"n": 3}') == {"n": 3}
    event = tmp_path / "event.json"
    event.write_text('{"path": "/x", "items": [1, 2]}')
    assert parse_payload(f"@{event}") == {"path": "/x", "items": [1, 2]}


def test_a_bad_payload_says_which_file_and_where(tmp_path: Path) -> None:
    with pytest.raises(click.BadParameter, match=r"cannot read .*missing\.json: No such file or directory"):
        parse_payload(f"@{tmp_path / 'missing.json'}")
    broken = tmp_path / "broken.json"
    broken.write_text('{"n": 1,\n  oops}')
    with pytest.raises(click.BadParameter, match=r"broken\.json is not valid JSON: .* at line 2 column 3"):
        parse_payload(f"@{broken}")
    binary = tmp_path / "event.bin"
    binary.write_bytes(b"\xff\xfe{}")
    with pytest.raises(click.BadParameter, match="not UTF-8"):
        parse_payload(f"@{binary}")
    with pytest.raises(click.BadParameter, match="--payload is not valid JSON"):
        parse_payload("{nope")


def result(sizes: list[int]) -> dict[str, Any]:
    return {"sizes": [{"memory_mb": size, "p50_ms": 1000 / size, "p95_ms": 1100 / size,
                       "cost_per_million": 0.2 + size / 1000} for size in sizes],
            "recommendation": {"cheapest": sizes[0], "fastest": sizes[-1], "balanced": sizes[1]}}


def test_the_html_plot_is_one_svg_with_a_point_per_size_in_each_series(tmp_path: Path) -> None:
    sizes = [128, 256, 512, 1024, 2048]
    target = tmp_path / "tune.html"
    write_plot(result(sizes), "fn<x>", target)
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 1 and "</svg>" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "fn&lt;x&gt;" in page  # the name is escaped
    for series in ("duration", "cost"):
        points = re.findall(rf'<circle class="{series}" data-memory-mb="(\d+)"', page)
        assert [int(point) for point in points] == sizes
    duration_x = [float(x) for x in re.findall(r'<circle class="duration" [^>]*cx="([\d.]+)"', page)]
    assert duration_x == sorted(duration_x) and len(set(duration_x)) == len(sizes)  # left to right by memory
    for name in ("cheapest", "fastest", "balanced"):
        assert f">{name}</text>" in page


def test_a_size_that_failed_has_no_point() -> None:
    shown = result([128, 256, 512])
    shown["sizes"][0].update(p50_ms=None, p95_ms=None, cost_per_million=None)
    page = html_page(shown, "f")
    assert len(re.findall(r'<circle class="duration"', page)) == 2
    assert len(re.findall(r'<circle class="cost"', page)) == 2


def test_a_single_size_is_drawn_in_the_middle() -> None:
    shown = result([512, 512])
    shown["sizes"] = shown["sizes"][:1]
    page = html_page(shown, "one")
    [x] = re.findall(r'<circle class="duration" [^>]*cx="([\d.]+)"', page)
    assert float(x) == pytest.approx(70 + (760 - 70 - 80) / 2)


def test_only_html_and_png_are_drawn(tmp_path: Path) -> None:
    with pytest.raises(PlotError, match=r"\.html file .* or a \.png"):
        check_target(tmp_path / "out.svg")


def test_png_without_matplotlib_suggests_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "matplotlib" else real(name, *args))
    with pytest.raises(PlotError, match=r"needs matplotlib.*use --plot .*out\.html"):
        check_target(tmp_path / "out.png")


def test_png_with_matplotlib(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install matplotlib)")
    target = tmp_path / "out.png"
    write_plot(result([128, 512, 2048]), "f", target)
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
