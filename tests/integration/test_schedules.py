"""Schedules on ``hearth serve``: a function's schedule sends EventBridge's Scheduled Event on its tick, a Vercel
cron GETs its path with ``CRON_SECRET``, ``hearth schedules`` lists them with their next tick, a pause holds across
a redeploy, and a restart with SIGKILL right after a tick does not fire that tick again.

One test waits for a real minute boundary (up to ~70 s): schedules tick at minute precision."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from conftest import Serve, poll

RECORDER = '''
import json, os, time

def record(event, context):
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps({"event": event, "request_id": context.aws_request_id, "at": time.time()}) + "\\n")
'''
CRON = '''
import json, os, time
from http.server import BaseHTTPRequestHandler

class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.environ["OUT"], "a") as out:
            out.write(json.dumps({"path": self.path, "authorization": self.headers.get("authorization"),
                                  "agent": self.headers.get("user-agent"), "host": self.headers.get("host"),
                                  "at": time.time()}) + "\\n")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
'''


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def projects(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    ops, web = tmp_path / "ops", tmp_path / "web"
    (ops).mkdir()
    (web / "api").mkdir(parents=True)
    ticks, crons = tmp_path / "ticks.jsonl", tmp_path / "crons.jsonl"
    (ops / "app.py").write_text(RECORDER)
    (ops / "hearth.toml").write_text(
        f'[functions.tick]\nhandler = "app.record"\nenv = {{ OUT = "{ticks}" }}\nschedule = "* * * * *"\n\n'
        '[[functions.tick.schedules]]\nname = "daily"\nexpression = "cron(0 6 * * ? *)"\n'
        'timezone = "Europe/Berlin"\ninput = { report = "daily" }\n')
    (web / "api" / "cron.py").write_text(CRON)
    (web / "vercel.json").write_text(json.dumps({"crons": [{"path": "/api/cron?from=cron", "schedule": "* * * * *"}],
                                                 "env": {"CRON_SECRET": "s3cret", "OUT": str(crons)}}))
    (web / "hearth.toml").write_text('[gateway]\nhosts = ["web.test"]\n')
    return ops, web, ticks, crons


def test_schedules_fire_once_per_tick_and_survive_a_sigkill(tmp_path: Path) -> None:
    ops, web, ticks, crons = projects(tmp_path)
    data = tmp_path / "data"
    serve = Serve(data)
    try:
        output = serve.deploy(ops)
        assert "created   schedule ops.tick" in output and "created   schedule ops.daily" in output, output
        assert "created   schedule web.cron.0" in serve.deploy(web)
        listing = {item["name"]: item for item in serve.native("/hearth/schedules")["schedules"]}
        assert set(listing) == {"ops.tick", "ops.daily", "web.cron.0"}
        assert listing["web.cron.0"]["target"] == "GET /api/cron?from=cron"
        daily = listing["ops.daily"]
        assert (daily["expression"], daily["timezone"], daily["paused"]) == ("cron(0 6 * * ? *)", "Europe/Berlin",
                                                                              False)
        assert daily["next"].endswith(":00:00Z") and daily["next"][11:13] in ("04", "05")  # 06:00 in Berlin
        table = serve.cli("schedules")
        assert table.returncode == 0 and "ops.daily" in table.stdout and "Europe/Berlin" in table.stdout

        paused = serve.cli("pause-schedule", "ops.daily")
        assert paused.returncode == 0 and "paused schedule ops.daily" in paused.stdout
        serve.deploy(ops)  # a redeploy keeps the pause
        assert {i["name"]: i["paused"] for i in serve.native("/hearth/schedules")["schedules"]}["ops.daily"]
        assert serve.cli("pause-schedule", "nope").returncode == 1

        assert poll(lambda: bool(lines(ticks)) and bool(lines(crons)), 75)  # the next minute boundary
        [first] = lines(ticks)
        event = first["event"]
        assert isinstance(event, dict) and event["detail-type"] == "Scheduled Event"
        assert event["source"] == "aws.events" and event["resources"][0].endswith(":rule/ops.tick")
        tick = datetime.strptime(str(event["time"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert tick.second == 0 and float(str(first["at"])) - tick.timestamp() < 10
        assert first["request_id"] == event["id"]  # the tick's event id is the invocation's request id
        assert serve.native("/hearth/invocations", request_id=event["id"])["invocations"][0]["trigger"] == "schedule"
        [cron] = lines(crons)
        assert (cron["path"], cron["authorization"], cron["agent"], cron["host"]) == (
            "/api/cron?from=cron", "Bearer s3cret", "vercel-cron/1.0", "web.test")

        serve.process.kill()  # right after the tick: the restarted platform must not fire it again
        serve = Serve(data)
        time.sleep(3)  # the scheduler's first pass runs at start: give it time to (wrongly) fire
        fired = {json.loads(line)["event"]["id"] for line in ticks.read_text().splitlines()
                 if json.loads(line)["event"]["time"] == event["time"]}
        assert fired == {event["id"]}
        assert {i["name"]: i["paused"] for i in serve.native("/hearth/schedules")["schedules"]}["ops.daily"]
    finally:
        serve.stop()
