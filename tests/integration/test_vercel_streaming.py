"""Responses that stream from Vercel-style entry points, on the real platform (``hearth dev`` on port 0).

Streaming is proven, not assumed: in the handshake tests the app sends a first piece, then waits (bounded) for a
file that the test creates only once it has received that piece; a buffering platform would send the first piece
only after the app had given up waiting, so the test would see "no signal".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import PROJECTS, HearthProcess, pid_alive, poll


@pytest.fixture(scope="module")
def hearth() -> Iterator[HearthProcess]:
    process = HearthProcess(PROJECTS / "streaming", "--no-watch").start()
    yield process
    process.stop()


@pytest.fixture
def client(hearth: HearthProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hearth.gateway, timeout=30) as client:
        yield client


def handshake(client: httpx.Client, path: str, signal: Path) -> tuple[httpx.Response, bytes, bytes]:
    """GET ``path``; once its first piece has arrived, create ``signal``; the first piece and the rest."""
    with client.stream("GET", path, params={"signal": str(signal)}) as response:
        pieces = response.iter_raw()
        first = next(pieces)
        signal.touch()
        rest = b"".join(pieces)
    return response, first, rest


@pytest.mark.parametrize("path, first", [("/api/wsgi/handshake", b"first /api/wsgi/handshake\n"),
                                         ("/api/asgi/handshake", b"first\n"),
                                         ("/api/handler", b"first\n")])
def test_each_piece_reaches_the_client_as_the_app_makes_it(hearth: HearthProcess, client: httpx.Client,
                                                          tmp_path: Path, path: str, first: bytes) -> None:
    response, received, rest = handshake(client, path, tmp_path / "signal")
    assert (received, rest) == (first, b"second\n")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.headers["transfer-encoding"] == "chunked" and "content-length" not in response.headers
    request_id = response.headers["x-amzn-requestid"]
    assert response.headers["x-amz-executed-version"] == "$LATEST"
    assert hearth.record(request_id)["status"] == "success"
    hearth.wait_for(lambda: any(line.startswith(f"REPORT RequestId: {request_id}") for line in hearth.stdout), 10,
                    "the REPORT line")


@pytest.mark.parametrize("path", ["/api/wsgi/events", "/api/asgi/events"])
def test_server_sent_events_keep_their_content_type(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert b"data: event 0\n\n" in response.content and response.content.endswith(b"data: event 2\n\n")


@pytest.mark.parametrize("path", ["/api/wsgi/small", "/api/asgi/small", "/api/handler"])
def test_a_response_made_in_one_piece_goes_whole_with_its_length(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "transfer-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(response.content) > 0


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_a_client_that_leaves_stops_the_app_and_the_instance_serves_again(hearth: HearthProcess, tmp_path: Path,
                                                                          kind: str) -> None:
    closed = tmp_path / "closed"
    with httpx.Client(base_url=hearth.gateway, timeout=30) as client:
        pid = client.get(f"/api/{kind}/small").json()["pid"]
        with client.stream("GET", f"/api/{kind}/forever", params={"closed": str(closed)}) as response:
            assert next(response.iter_raw()).startswith(b"tick 0\n")
            request_id = response.headers["x-amzn-requestid"]
    # The WSGI app (a tick every 10 ms) learns it at its next write; the ASGI app (a tick every 10 s) at once,
    # while it sleeps: Starlette's disconnect listener hears it and cancels the stream.
    assert poll(closed.exists, 5), "the app was not stopped when its client left"
    assert int(closed.read_text()) == pid
    assert poll(lambda: hearth.record(request_id)["status"] == "success", 5)
    again = httpx.get(f"{hearth.gateway}/api/{kind}/small", timeout=30).json()
    assert again["pid"] == pid  # the same instance, warm: not discarded, not wedged


def test_the_timeout_cuts_a_stream_off(hearth: HearthProcess, client: httpx.Client) -> None:
    started = time.monotonic()
    received = b""
    with client.stream("GET", "/api/slow") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):  # the chunked body never ends
            for piece in response.iter_raw():
                received += piece
    assert 0.9 < time.monotonic() - started < 5
    assert received.startswith(b"tick 0\ntick 1\n")
    record = hearth.record(response.headers["x-amzn-requestid"])
    assert (record["status"], record["error_type"]) == ("timeout", "Sandbox.Timedout")
    assert "slow: started" in record["log_lines"]


def _cut_off(client: httpx.Client, path: str) -> tuple[bytes, httpx.Response]:
    """What a GET of ``path`` received before its response was cut off (it must be)."""
    received = b""
    with client.stream("GET", path) as response:
        with pytest.raises(httpx.RemoteProtocolError):
            for piece in response.iter_raw():
                received += piece
    return received, response


def test_an_exception_mid_stream_cuts_it_off_and_the_instance_stays(hearth: HearthProcess,
                                                                   client: httpx.Client) -> None:
    pid = client.get("/api/wsgi/small").json()["pid"]
    received, response = _cut_off(client, "/api/wsgi/fail")
    assert received == b"first\n"
    record = hearth.record(response.headers["x-amzn-requestid"])
    assert (record["status"], record["error_type"]) == ("error", "RuntimeError")
    assert any("broken mid-stream" in line for line in record["log_lines"])
    assert client.get("/api/wsgi/small").json()["pid"] == pid


def test_an_error_before_the_first_byte_is_the_usual_error_response(client: httpx.Client) -> None:
    response = client.get("/api/wsgi/fail", params={"early": "1"})
    assert response.status_code == 502
    assert response.json()["errorType"] == "RuntimeError"
    assert response.json()["errorMessage"] == "broken mid-stream"
    assert response.headers["x-amz-function-error"] == "Unhandled"


def test_a_crash_mid_stream_cuts_it_off_and_discards_the_instance(hearth: HearthProcess,
                                                                  client: httpx.Client) -> None:
    pid = client.get("/api/wsgi/small").json()["pid"]
    received, response = _cut_off(client, "/api/wsgi/crash")
    assert received == b"first\n"
    record = hearth.record(response.headers["x-amzn-requestid"])
    assert (record["status"], record["error_type"]) == ("crash", "Runtime.ExitError")
    assert not pid_alive(pid)
    assert client.get("/api/wsgi/small").json()["pid"] != pid


def test_a_streamed_body_may_pass_6_mib_but_not_20(hearth: HearthProcess, client: httpx.Client) -> None:
    response = client.get("/api/wsgi/big", params={"mib": "8"})
    assert response.status_code == 200 and len(response.content) == 8 * 1024 * 1024
    received = 0
    with client.stream("GET", "/api/wsgi/big", params={"mib": "21"}) as response:
        with pytest.raises(httpx.RemoteProtocolError):
            for piece in response.iter_raw():
                received += len(piece)
    assert 6 * 1024 * 1024 < received <= 20 * 1024 * 1024
    record = hearth.record(response.headers["x-amzn-requestid"])
    assert (record["status"], record["error_type"]) == ("error", "Function.ResponseSizeTooLarge")


def test_the_lambda_invoke_api_gets_the_whole_response(hearth: HearthProcess) -> None:
    event = {"rawPath": "/api/wsgi/events", "requestContext": {"http": {"method": "GET"}}}
    response = httpx.post(f"{hearth.control}/2015-03-31/functions/wsgi/invocations", json=event, timeout=30)
    assert response.status_code == 200
    payload = response.json()
    assert payload["statusCode"] == 200 and payload["headers"]["content-type"].startswith("text/event-stream")
    assert payload["body"] == "".join(f"id: {n}\ndata: event {n}\n\n" for n in range(3))
