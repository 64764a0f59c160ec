"""``runtime = "http"``: a server process started on the first request and reverse-proxied by the gateway.

The server is a small ASGI app run by uvicorn (``projects/http_python/app.py``), started with this interpreter's
absolute path; ``test_http_json_server.py`` runs an unmodified third-party server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PROJECTS, HearthProcess, pid_alive, poll
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

BIG_BODY = 50 * 1024 * 1024


def http_project(target: Path) -> Path:
    """A copy of ``projects/http_python`` whose commands run this interpreter."""
    shutil.copytree(PROJECTS / "http_python", target, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = target / "hearth.toml"
    manifest.write_text(manifest.read_text().replace("@PYTHON@", sys.executable))
    return target


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HearthProcess]:
    project = http_project(tmp_path_factory.mktemp("http") / "project")
    hearth = HearthProcess(project, "--no-watch").start()
    yield hearth
    hearth.stop()


@pytest.fixture
def client(web: HearthProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web.gateway, timeout=30) as client:
        yield client


def ws_url(hearth: HearthProcess, path: str) -> str:
    return hearth.gateway.replace("http://", "ws://") + path


def rss_peak_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


# -- proxying ---------------------------------------------------------------------------------------------------


def test_request_reaches_the_server_as_sent_with_forwarded_headers(web: HearthProcess, client: httpx.Client) -> None:
    port = client.base_url.port
    response = client.get("/some/path%20x?a=1&b=two", headers={
        "Host": "example.test:8443", "X-Custom": "yes", "X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6",
        "Connection": "keep-alive, x-secret", "X-Secret": "hop", "TE": "trailers", "Proxy-Authorization": "Basic x"})
    assert response.status_code == 200
    seen = response.json()
    headers = dict(seen["headers"])
    assert (seen["method"], seen["raw_path"], seen["query"]) == ("GET", "/some/path%20x", "a=1&b=two")
    assert headers["host"] == "example.test:8443"
    assert headers["x-custom"] == "yes"
    assert headers["x-forwarded-for"] == "127.0.0.1"  # the gateway is the edge: what the client claimed is dropped
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == "example.test:8443"
    assert headers["x-forwarded-port"] == str(port)
    assert headers["x-amzn-requestid"] == response.headers["x-amzn-requestid"]
    for hop in ("connection", "x-secret", "te", "proxy-authorization", "forwarded"):
        assert hop not in headers
    assert [name for name, _ in seen["headers"]].count("x-forwarded-for") == 1
    assert seen["env"] == {"PORT": seen["env"]["PORT"], "GREETING": "hi", "AWS_LAMBDA_FUNCTION_NAME": "web"}
    assert response.headers["x-amz-executed-version"] == "$LATEST"


def test_status_and_headers_pass_back_without_hop_by_hop(client: httpx.Client) -> None:
    response = client.get("/status", params={"code": "418"})
    assert response.status_code == 418
    assert response.headers["x-custom"] == "kept"
    assert "x-hop" not in response.headers  # named by the server's Connection header
    assert "keep-alive" not in response.headers
    assert response.json() == {"status": 418}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_every_method_is_proxied(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/method", content=b"payload" if method in ("POST", "PUT", "PATCH") else None)
    assert response.status_code == 200
    if method == "HEAD":
        assert response.content == b""
    else:
        seen = response.json()
        assert seen["method"] == method
        assert seen["body"] == ("payload" if method in ("POST", "PUT", "PATCH") else "")


def test_chunked_request_body_is_passed_on(client: httpx.Client) -> None:
    response = client.post("/chunked", content=iter([b"one,", b"two,", b"three"]))
    assert response.json()["body"] == "one,two,three"


def test_response_without_length_is_streamed(client: httpx.Client) -> None:
    with client.stream("GET", "/stream", params={"n": "200", "size": "1000"}) as response:
        pieces = list(response.iter_bytes())
    assert response.headers.get("transfer-encoding") == "chunked"
    assert sum(len(piece) for piece in pieces) == 200_000


def test_large_bodies_stream_both_ways_with_bounded_memory(web: HearthProcess) -> None:
    """50 MB up and echoed back: the first response byte arrives long before the last request byte is sent, and
    the platform's peak memory does not grow by anything like the body."""
    assert web.process is not None
    before = rss_peak_kb(web.process.pid)
    host, port = web.gateway.removeprefix("http://").split(":")
    piece = os.urandom(64 * 1024)
    sent_hash = hashlib.sha256()
    got_hash = hashlib.sha256()
    times: dict[str, float] = {}
    received = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: {BIG_BODY}\r\n\r\n".encode())

        def upload() -> None:
            for _ in range(BIG_BODY // len(piece)):
                sock.sendall(piece)
                sent_hash.update(piece)
            times["last_sent"] = time.monotonic()

        uploader = threading.Thread(target=upload, daemon=True)
        uploader.start()
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed before the response head"
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        body = bytearray(rest)
        while received < BIG_BODY:  # de-chunk as it comes (the echo has no Content-Length)
            while True:
                line_end = body.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(body[:line_end], 16)
                if len(body) < line_end + 2 + size + 2:
                    break
                data = bytes(body[line_end + 2:line_end + 2 + size])
                del body[:line_end + 2 + size + 2]
                if data:
                    times.setdefault("first_received", time.monotonic())
                    got_hash.update(data)
                    received += len(data)
            if received >= BIG_BODY:
                break
            chunk = sock.recv(1 << 20)
            assert chunk, f"the connection closed after {received} bytes"
            body += chunk
        uploader.join(30)
    assert received == BIG_BODY
    assert got_hash.hexdigest() == sent_hash.hexdigest()
    assert times["first_received"] < times["last_sent"]
    grown_mb = (rss_peak_kb(web.process.pid) - before) / 1024
    assert grown_mb < 20, f"the platform's peak RSS grew by {grown_mb:.0f} MB for a {BIG_BODY >> 20} MB body"


# -- failures of the server -------------------------------------------------------------------------------------------


def test_timeout_answers_504_and_the_server_keeps_serving(web: HearthProcess, client: httpx.Client) -> None:
    pid = client.get("/counter").json()["pid"]
    started = time.monotonic()
    response = client.get("/slow", params={"s": "6"})
    assert response.status_code == 504
    assert 1.9 < time.monotonic() - started < 5
    body = response.json()
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == "Task timed out after 2.00 seconds"
    assert web.record(response.headers["x-amzn-requestid"])["status"] == "timeout"
    assert client.get("/counter").json()["pid"] == pid  # not killed: it serves other requests


def test_crash_mid_request_is_502_and_the_next_request_restarts_it(web: HearthProcess, client: httpx.Client) -> None:
    pid = client.get("/counter").json()["pid"]
    response = client.get("/crash", params={"code": "3"})
    assert response.status_code == 502
    assert response.json()["errorType"] == "Runtime.ExitError"
    assert response.json()["errorMessage"] == "Runtime exited with error: exit status 3"
    record = web.record(response.headers["x-amzn-requestid"])
    assert record["status"] == "crash"
    assert "about to crash" in record["log_lines"]
    assert poll(lambda: not pid_alive(pid), 10)
    after = client.get("/counter").json()
    assert after["pid"] != pid
    assert after["counter"] == 1  # a new process: its memory starts empty


def test_memory_limit_stops_the_server_with_out_of_memory(web: HearthProcess, client: httpx.Client) -> None:
    if not any("memory limits: cgroup" in line for line in web.stdout + web.stderr):
        pytest.skip("no cgroup memory controller here: an exec'd server has no address-space limit (RLIMIT_AS)")
    assert client.get("/small/alloc", params={"mb": "8"}).status_code == 200
    response = client.get("/small/alloc", params={"mb": "400"})
    assert response.status_code == 502
    assert response.json()["errorType"] == "Runtime.OutOfMemory"
    assert web.record(response.headers["x-amzn-requestid"])["status"] == "oom"
    assert client.get("/small/counter").json()["counter"] == 1  # started again


def test_concurrent_first_requests_start_one_process(web: HearthProcess) -> None:
    assert web.instances("fresh") == []
    barrier = threading.Barrier(8)
    results: list[httpx.Response] = []

    def call() -> None:
        barrier.wait(10)
        with httpx.Client(base_url=web.gateway, timeout=30) as own:
            results.append(own.get("/fresh/counter"))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r.status_code for r in results] == [200] * 8
    assert len({r.json()["pid"] for r in results}) == 1
    assert sorted(r.json()["counter"] for r in results) == list(range(1, 9))
    assert len(web.instances("fresh")) == 1
    records = [web.record(r.headers["x-amzn-requestid"]) for r in results]
    assert sum(1 for record in records if record["init_ms"] is not None) == 1


def test_idle_server_is_stopped_and_started_again(web: HearthProcess) -> None:
    with httpx.Client(base_url=web.gateway, timeout=30) as own:
        pid = own.get("/idle/counter").json()["pid"]
        assert poll(lambda: web.instances("idle") == [], 10), web.instances("idle")
        assert poll(lambda: not pid_alive(pid), 10)
        again = own.get("/idle/counter").json()
    assert again["pid"] != pid and again["counter"] == 1


def test_command_that_exits_at_once_is_503_with_its_output(client: httpx.Client) -> None:
    response = client.get("/exits/x")
    assert response.status_code == 503
    body = response.json()
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in body["errorMessage"]
    assert "boom: DATABASE_URL is not set" in body["errorMessage"]


def test_server_that_never_becomes_healthy_is_503_within_its_startup_timeout(web: HearthProcess,
                                                                             client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.get("/unhealthy/x")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["errorType"] == "Sandbox.Timedout"
    assert "within 1.5 s" in body["errorMessage"] and "its last answer was 500" in body["errorMessage"]
    assert "Uvicorn running on" in body["errorMessage"]  # the tail of its output
    assert 1.4 < elapsed < 6
    assert poll(lambda: web.instances("unhealthy") == [], 10)


def test_command_that_does_not_exist_is_503(client: httpx.Client) -> None:
    response = client.get("/missing/x")
    assert response.status_code == 503
    body = response.json()
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert "'./no-such-server' does not exist" in body["errorMessage"]


# -- concurrency --------------------------------------------------------------------------------------------------


def test_beyond_max_concurrency_requests_wait_briefly_then_get_429(web: HearthProcess) -> None:
    slow: list[httpx.Response] = []
    with httpx.Client(base_url=web.gateway, timeout=30) as own:
        own.get("/narrow/counter")  # started and warm
        before = len(web.instances("narrow"))
        thread = threading.Thread(target=lambda: slow.append(own.get("/narrow/slow", params={"s": "3"})))
        thread.start()
        assert poll(lambda: any(i["state"] == "busy" for i in web.instances("narrow")), 10)
        with httpx.Client(base_url=web.gateway, timeout=30) as second, \
                httpx.Client(base_url=web.gateway, timeout=30) as third:
            waited: list[tuple[httpx.Response, float]] = []

            def queued() -> None:
                started = time.monotonic()
                waited.append((second.get("/narrow/counter"), time.monotonic() - started))

            queuer = threading.Thread(target=queued)
            queuer.start()
            time.sleep(0.2)  # let the second request take the one queue place (a throttle, not a readiness wait)
            immediate = third.get("/narrow/counter")
            queuer.join(30)
        thread.join(30)
    assert immediate.status_code == 429  # the queue (max_concurrency long) was full
    assert immediate.json()["errorType"] == "TooManyRequestsException"
    response, seconds = waited[0]
    assert response.status_code == 429 and 0.9 < seconds < 3  # waited about a second in the queue
    assert slow[0].status_code == 200
    assert len(web.instances("narrow")) == before == 1


def test_reserved_concurrency_throttles_with_retry_after(web: HearthProcess) -> None:
    slow: list[httpx.Response] = []
    with httpx.Client(base_url=web.gateway, timeout=30) as own, httpx.Client(base_url=web.gateway) as other:
        own.get("/reserved/counter")
        thread = threading.Thread(target=lambda: slow.append(own.get("/reserved/slow", params={"s": "2"})))
        thread.start()
        assert poll(lambda: any(i["state"] == "busy" for i in web.instances("reserved")), 10)
        throttled = other.get("/reserved/counter")
        thread.join(30)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert throttled.json()["errorType"] == "TooManyRequestsException"
    assert web.record(throttled.headers["x-amzn-requestid"])["status"] == "throttled"
    assert slow[0].status_code == 200


# -- telemetry -------------------------------------------------------------------------------------------------------


def test_each_request_leaves_a_record_and_a_lone_requests_output_is_its_own(web: HearthProcess,
                                                                           client: httpx.Client) -> None:
    message = f"line for {time.monotonic_ns()}"
    response = client.get("/log", params={"msg": message})
    rid = response.headers["x-amzn-requestid"]
    record = web.record(rid)
    assert (record["trigger"], record["status"], record["memory_mb"]) == ("http", "success", 256)
    assert record["log_lines"] == [message]
    [written] = record["log_times"]  # when the platform read the line: within the request
    assert record["start"] <= written <= record["start"] + (record["duration_ms"] + 50) / 1000
    assert record["max_memory_mb"] > 0
    web.wait_for(lambda: any(line.startswith(f"REPORT RequestId: {rid}") for line in web.stdout), 10, "REPORT")
    out = web.stdout
    assert out.index(f"START RequestId: {rid} Version: $LATEST") + 1 == out.index(message)
    assert out.index(message) + 1 == out.index(f"END RequestId: {rid}")


def test_lambda_invoke_of_a_server_is_refused_clearly(web: HearthProcess) -> None:
    response = httpx.post(f"{web.control}/2015-03-31/functions/web/invocations", content=b"{}", timeout=30)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "InvalidParameterValueException"
    assert "runs an HTTP server" in response.json()["message"]
    assert "gateway" in response.json()["message"]


# -- WebSockets ------------------------------------------------------------------------------------------------------


def test_websocket_frames_subprotocol_headers_and_close_codes(web: HearthProcess) -> None:
    with connect(ws_url(web, "/ws?room=1"), subprotocols=["chat"],  # type: ignore[list-item]
                 additional_headers={"X-Custom": "ws"}, open_timeout=30) as ws:
        assert ws.subprotocol == "chat"
        ws.send("hello")
        assert ws.recv(10) == "hello"
        ws.send(b"\x00\x01binary")
        assert ws.recv(10) == b"\x00\x01binary"
        ws.send("host")
        headers: dict[str, Any] = json.loads(ws.recv(10))
        assert headers["host"] == web.gateway.removeprefix("http://")
        assert headers["x-custom"] == "ws"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        ws.send("close:4002")
        with pytest.raises(ConnectionClosed):
            ws.recv(10)
    assert ws.close_code == 4002
    assert ws.close_reason == "asked to"


def test_websocket_client_close_code_reaches_the_server(web: HearthProcess) -> None:
    with connect(ws_url(web, "/ws"), open_timeout=30) as ws:
        ws.send("ping")
        assert ws.recv(10) == "ping"
        ws.close(4001, "bye")
    web.wait_for(lambda: "client closed with 4001" in web.stdout, 10, "the server's note of the close code")


def test_a_websocket_the_server_refuses_gets_its_status_headers_and_body(web: HearthProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(web, "/ws/refused"), open_timeout=30)
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["x-why"] == "no token" and response.body == b"no entry"
    assert response.headers["x-amzn-requestid"]


def test_websocket_to_a_failing_server_is_refused_with_its_status(web: HearthProcess) -> None:
    with pytest.raises(Exception) as refused:
        connect(ws_url(web, "/missing/ws"), open_timeout=30)
    assert "503" in str(refused.value)


# -- lifecycle with the platform ---------------------------------------------------------------------------------------


def test_platform_stop_stops_the_server(tmp_path: Path) -> None:
    hearth = HearthProcess(http_project(tmp_path / "project"), "--no-watch").start()
    try:
        pid = httpx.get(f"{hearth.gateway}/counter", timeout=30).json()["pid"]
        assert [i["pid"] for i in hearth.instances("web")] == [pid]
    finally:
        assert hearth.stop() == 0
    assert poll(lambda: not pid_alive(pid), 10)


def test_code_change_replaces_the_server(tmp_path: Path) -> None:
    project = http_project(tmp_path / "project")
    hearth = HearthProcess(project).start()
    try:
        with httpx.Client(base_url=hearth.gateway, timeout=30) as own:
            first = own.get("/counter").json()
            own.get("/counter")
            app = project / "app.py"
            app.write_text(app.read_text() + "\n# edited\n")
            assert poll(lambda: not pid_alive(first["pid"]), 15), "the old server was not stopped"
            after = own.get("/counter").json()
        assert after["pid"] != first["pid"] and after["counter"] == 1
        assert len(hearth.instances("web")) == 1
    finally:
        hearth.stop()


def test_header_rules_and_cors_come_from_the_gateway(tmp_path: Path) -> None:
    project = http_project(tmp_path / "project")
    manifest = project / "hearth.toml"
    manifest.write_text(manifest.read_text() + """
[[headers]]
source = "*.js"
headers = { "Cache-Control" = "public, max-age=2592000" }

[cors]
allow_origins = ["https://app.example"]
allow_methods = ["GET", "POST"]
""")
    hearth = HearthProcess(project, "--no-watch").start()
    try:
        with httpx.Client(base_url=hearth.gateway, timeout=30) as client:
            script = client.get("/web/static/app.js", headers={"Origin": "https://app.example"})
            assert script.status_code == 200 and script.json()["path"] == "/web/static/app.js"
            assert script.headers["cache-control"] == "public, max-age=2592000"
            assert script.headers["access-control-allow-origin"] == "https://app.example"
            page = client.get("/web/index.html", headers={"Origin": "https://elsewhere.example"})
            assert "cache-control" not in page.headers and "access-control-allow-origin" not in page.headers
            before = len(hearth.instances("fresh"))
            preflight = client.options("/fresh/x", headers={"Origin": "https://app.example",
                                                            "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 204 and "POST" in preflight.headers["access-control-allow-methods"]
            assert len(hearth.instances("fresh")) == before == 0  # answered by the gateway: no server started
    finally:
        hearth.stop()
