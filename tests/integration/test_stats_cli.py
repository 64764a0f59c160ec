"""``hearth stats`` on a real ``hearth serve``: the figures follow what was invoked."""

from __future__ import annotations

from pathlib import Path

from conftest import Serve


def test_hearth_stats_counts_calls_errors_and_cold_starts(tmp_path: Path) -> None:
    project = tmp_path / "counted"
    project.mkdir()
    (project / "app.py").write_text("def ok(event, context):\n    return 1\n\n"
                                    "def bad(event, context):\n    raise ValueError('no')\n")
    (project / "hearth.toml").write_text('[functions.ok]\nhandler = "app.ok"\n\n[functions.bad]\nhandler = "app.bad"\n')
    serve = Serve(tmp_path / "data")
    try:
        serve.deploy(project)
        lam = serve.client()
        for _ in range(4):
            lam.invoke(FunctionName="ok")
        lam.invoke(FunctionName="bad")
        figures = {item["function"]: item for item in serve.native("/hearth/stats", since="10m")["functions"]}
        assert (figures["ok"]["invocations"], figures["ok"]["errors"], figures["ok"]["cold"]) == (4, 0, 1)
        assert figures["ok"]["cold_pct"] == 25.0 and figures["ok"]["p50_ms"] is not None
        assert (figures["bad"]["invocations"], figures["bad"]["error_pct"]) == (1, 100.0)
        shown = serve.cli("stats", "--since", "10m")
        assert shown.returncode == 0, shown.stderr
        rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines()[1:] if line.strip()}
        assert rows["ok"][1:4] == ["4", rows["ok"][2], "0.0%"] and rows["bad"][3] == "100.0%"
        assert "no invocations since 1s" in serve.cli("stats", "nope", "--since", "1s").stdout
    finally:
        serve.stop()
