"""Log drains on a real ``hearth serve``: signed NDJSON batches reach a receiver started here, a receiver that answers
503 for a while loses nothing (retried batches keep their ids), and a small buffer with the receiver down counts its
drops in ``/metrics``."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Serve, poll
from prometheus_client.parser import text_string_to_metric_families

APP = '''
def echo(event, context):
    print("echo line " + event.get("tag", ""))
    return event
'''
MANIFEST = '''
[functions.echo]
handler = "app.echo"
'''
SECRET = "drain-secret"
WAIT_S = 20.0


class Receiver:
    """An HTTP drain endpoint in a thread: answers ``status`` (200 unless told otherwise) and keeps what it took."""

    def __init__(self) -> None:
        self.status = 200
        self.lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []  # every line of every batch answered 200
        self.attempts = 0
        self.refused = 0
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    receiver.attempts += 1
                    if self.headers.get("x-hearth-signature") != expected \
                            or self.headers.get("content-type") != "application/x-ndjson":
                        receiver.bad_signatures += 1
                    status = receiver.status
                    if status == 200:
                        receiver.accepted += [json.loads(line) for line in body.splitlines()]
                    else:
                        receiver.refused += 1
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ingest"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def lines(self, request_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [line for line in self.accepted if line.get("requestId") == request_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def deploy(serve: Serve, root: Path) -> None:
    project = root / "drain-app"
    project.mkdir()
    (project / "app.py").write_text(APP)
    (project / "hearth.toml").write_text(MANIFEST)
    serve.deploy(project)


def invoke(serve: Serve, tag: str) -> str:
    reply = serve.client().invoke(FunctionName="echo", Payload=json.dumps({"tag": tag}).encode())
    return str(reply["ResponseMetadata"]["RequestId"])


def metric(serve: Serve, name: str, **labels: str) -> float:
    text = httpx.get(f"{serve.process.control}/metrics", timeout=30,
                     headers={"Authorization": f"Bearer {serve.key['token']}"}).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def test_lines_arrive_signed_and_survive_an_outage(tmp_path: Path, receiver: Receiver) -> None:
    serve = Serve(tmp_path / "data", "--quiet", "--log-drain", receiver.url, "--log-drain-secret", SECRET)
    try:
        deploy(serve, tmp_path)
        before = [invoke(serve, f"before-{index}") for index in range(5)]
        assert poll(lambda: all(len(receiver.lines(rid)) == 4 for rid in before), WAIT_S)
        first = receiver.lines(before[0])
        assert [line["source"] for line in first] == ["platform", "lambda", "platform", "platform"]
        assert first[1]["message"] == "echo line before-0"
        assert {line["function"] for line in first} == {"echo"} and {line["level"] for line in first} == {"info"}

        receiver.status = 503  # the endpoint is down for a while
        refused = receiver.refused
        during = [invoke(serve, f"during-{index}") for index in range(5)]
        assert poll(lambda: receiver.refused >= refused + 2, WAIT_S)  # a first try and at least one retry
        receiver.status = 200
        assert poll(lambda: all(len(receiver.lines(rid)) >= 4 for rid in during), WAIT_S)

        for rid in before + during:  # every line once: no loss, no duplicate among accepted batches
            lines = receiver.lines(rid)
            assert len(lines) == 4 and len({line["id"] for line in lines}) == 4, lines
        assert receiver.bad_signatures == 0
        assert metric(serve, "hearth_drain_sent_total") == 40
        assert metric(serve, "hearth_drain_dropped_total", reason="overflow") == 0
    finally:
        serve.stop()


def test_a_small_buffer_with_the_receiver_down_counts_drops(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    serve = Serve(tmp_path / "data", "--quiet", "--log-drain", dead, "--log-drain-buffer", "5")
    try:
        deploy(serve, tmp_path)
        for index in range(5):  # 20 lines for 5 places (and the batch that is being retried)
            invoke(serve, f"lost-{index}")
        assert poll(lambda: metric(serve, "hearth_drain_dropped_total", reason="overflow") >= 10, WAIT_S)
        assert metric(serve, "hearth_drain_sent_total", drain=dead) == 0
    finally:
        serve.stop()


class _Spans(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps the spans of every JSON export it is sent."""

    spans: list[dict[str, Any]] = []
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).paths.append(self.path)
        for resource in body["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                type(self).spans.extend(scope["spans"])
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_an_otlp_drain_exports_one_span_per_invocation(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Spans)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    serve = Serve(tmp_path / "data", "--quiet", "--log-drain", f"otlp+http://127.0.0.1:{server.server_address[1]}")
    try:
        deploy(serve, tmp_path)
        request_id = invoke(serve, "traced")
        assert poll(lambda: any(_invocation_id(span) == request_id for span in _Spans.spans), WAIT_S)
        [span] = [span for span in _Spans.spans if _invocation_id(span) == request_id]
        assert span["name"] == "echo" and span["kind"] == 2 and span["status"] == {"code": 1}
        assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16
        assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"]) > 0
        assert set(_Spans.paths) == {"/v1/traces"}
        [record] = serve.native("/hearth/invocations", request_id=request_id)["invocations"]
        assert span["spanId"] in record["trace_id"]  # the span is the one the record names
    finally:
        serve.stop()
        server.shutdown()
        server.server_close()


def _invocation_id(span: dict[str, Any]) -> str | None:
    return next((item["value"]["stringValue"] for item in span["attributes"] if item["key"] == "faas.invocation_id"),
                None)
