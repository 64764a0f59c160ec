"""Trace propagation through the gateway on ``hearth dev``: a caller's trace reaches the function (event header,
``context.trace_id``, ``_X_AMZN_TRACE_ID``), comes back in the response with the invocation's own span, and is
kept in the invocation's record; a request without one gets a new trace; an ``http`` server gets both headers."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import httpx
from conftest import PROJECTS, HearthProcess

TRACED = '''
import os

def handler(event, context):
    return {"header": event["headers"].get("x-amzn-trace-id"), "context": context.trace_id,
            "env": os.environ.get("_X_AMZN_TRACE_ID"), "traceparent": event["headers"].get("traceparent")}
'''
W3C = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_trace_goes_through_to_the_function_and_back(tmp_path: Path) -> None:
    root = tmp_path / "traced"
    shutil.copytree(PROJECTS / "http_python", root)
    manifest = (root / "hearth.toml").read_text().replace("@PYTHON@", sys.executable)
    (root / "traced.py").write_text(TRACED)
    (root / "hearth.toml").write_text(manifest + '\n[functions.traced]\nhandler = "traced.handler"\n\n'
                                      '[[routes]]\npath = "/traced"\nfunction = "traced"\n\n'
                                      '[[routes]]\npath = "/web/{proxy+}"\nfunction = "web"\nstrip_prefix = "/web"\n')
    hearth = HearthProcess(root, "--quiet").start()
    try:
        with httpx.Client(base_url=hearth.gateway, timeout=30) as client:
            reply = client.get("/traced", headers={"traceparent": f"00-{W3C}-00f067aa0ba902b7-01"})
            assert reply.status_code == 200, reply.text
            seen = reply.json()
            span = re.fullmatch(rf"00-{W3C}-([0-9a-f]{{16}})-01", reply.headers["traceparent"])
            assert span is not None and span.group(1) != "00f067aa0ba902b7"  # the invocation's own span
            xray = f"Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent={span.group(1)};Sampled=1"
            assert reply.headers["x-amzn-trace-id"] == xray
            assert seen == {"header": xray, "context": xray, "env": xray, "traceparent": reply.headers["traceparent"]}
            assert hearth.record(reply.headers["x-amzn-requestid"])["trace_id"] == xray
            logged = httpx.get(f"{hearth.control}/hearth/logs", timeout=30,
                               params={"request_id": reply.headers["x-amzn-requestid"], "format": "json"}).json()
            assert [entry["trace_id"] for entry in logged] == [xray]  # the log store keeps it too

            fresh = client.get("/traced")
            new_trace = re.fullmatch(r"00-([0-9a-f]{32})-[0-9a-f]{16}-00", fresh.headers["traceparent"])
            assert new_trace is not None and new_trace.group(1) != W3C
            assert fresh.json()["env"] == fresh.headers["x-amzn-trace-id"]  # not the previous call's

            proxied = client.get("/web/headers", headers={"x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a9"
                                                                             "94272793;Sampled=1"})
            received = dict(proxied.json()["headers"])
            assert received["traceparent"].startswith("00-5759e988bd862e3fe1be46a994272793-")
            assert received["x-amzn-trace-id"].startswith("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=")
            assert proxied.headers["traceparent"] == received["traceparent"]
    finally:
        assert hearth.stop() == 0


def test_a_functions_lines_keep_the_time_they_were_written(tmp_path: Path) -> None:
    root = tmp_path / "timed"
    root.mkdir()
    (root / "app.py").write_text("import time\n\ndef handler(event, context):\n    print('early', flush=True)\n"
                                 "    time.sleep(0.3)\n    print('late', flush=True)\n    return 1\n")
    (root / "hearth.toml").write_text('[functions.timed]\nhandler = "app.handler"\n\n'
                                      '[[routes]]\npath = "/timed"\nfunction = "timed"\n')
    hearth = HearthProcess(root, "--quiet").start()
    try:
        reply = httpx.get(f"{hearth.gateway}/timed", timeout=30)
        assert reply.status_code == 200
        [entry] = httpx.get(f"{hearth.control}/hearth/logs", timeout=30, params={
            "request_id": reply.headers["x-amzn-requestid"], "format": "json"}).json()
        times = {line["message"]: line["time"] for line in entry["lines"]}
        assert times["late"] - times["early"] >= 0.25  # each when it was written, not both at the end
        assert entry["start"] <= times["early"] < times["late"] <= entry["time"] + 0.01
    finally:
        assert hearth.stop() == 0
