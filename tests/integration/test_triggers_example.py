"""``examples/triggers`` under ``hearth dev``, as its README says to try it: a job goes through the queue to the
worker, a broken one fails alone, and the webhook route answers 202 before its function runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from conftest import HearthProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_triggers_example_works_as_its_readme_says(tmp_path: Path) -> None:
    root = tmp_path / "triggers"
    shutil.copytree(EXAMPLES / "triggers", root, ignore=shutil.ignore_patterns("__pycache__"))
    hearth = HearthProcess(root).start()
    try:
        hearth.wait_for(lambda: any("control API: authentication" in line for line in hearth.stderr), 10,
                        "the start notes")
        noted = " ".join(hearth.stderr)  # hearth dev names what starts functions besides plain routes
        assert "route POST /hooks → hook (async)" in noted and "queue jobs → worker (batches of 10)" in noted
        assert "schedule triggers.report: rate(5 minutes) → report" in noted
        with httpx.Client(base_url=hearth.gateway, timeout=30) as client:
            queued = client.post("/jobs", content=b'{"task": "resize", "id": 7}')
            assert queued.status_code == 202 and queued.json()["queued"], queued.text
            hearth.wait_for(lambda: any("job 7: resize (receive 1)" in line for line in hearth.stdout), 15,
                            "the worker's line")
            hook = client.post("/hooks", content=b'{"event": "push"}')
            assert hook.status_code == 202
            request_id = hook.json()["requestId"]
            hearth.wait_for(lambda: any(f"webhook {request_id}: " in line and "push" in line
                                        for line in hearth.stdout), 15, "the webhook's line")
        schedules = httpx.get(f"{hearth.control}/hearth/schedules").json()["schedules"]
        assert [(s["name"], s["expression"]) for s in schedules] == [("triggers.report", "rate(5 minutes)")]
    finally:
        assert hearth.stop() == 0
