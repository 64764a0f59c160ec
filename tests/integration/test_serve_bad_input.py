"""``hearth serve`` refuses bad input with Lambda's errors and keeps serving: crafted packages, over-size uploads,
bad names, oversized or slow requests."""

from __future__ import annotations

import http.client
import io
import json
import select
import socket
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from conftest import Serve

ROLE = "arn:aws:iam::000000000000:role/ignored"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with Serve(tmp_path_factory.mktemp("serve-bad-input"), "--quiet") as running:
        yield running


@pytest.fixture(scope="module")
def client(serve: Serve) -> Any:
    return serve.client()


@pytest.fixture(scope="module")
def hook(serve: Serve, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A gateway route with ``async = true``; returns its path."""
    project = tmp_path_factory.mktemp("async-hook")
    (project / "app.py").write_text("def record(event, context):\n    return {}\n")
    (project / "hearth.toml").write_text('[functions.hookfn]\nhandler = "app.record"\n\n'
                                         '[[routes]]\npath = "/hook"\nmethods = ["POST"]\nfunction = "hookfn"\n'
                                         'async = true\n')
    serve.deploy(project)
    return "/hook"


def crafted_zip(*entries: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fns.py", "def echo(event, context):\n    return event\n")
        for name, content in entries:
            archive.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


def refused(client: Any, code: bytes, name: str = "evil") -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="fns.echo",
                               Code={"ZipFile": code})
    return caught.value.response  # type: ignore[no-any-return]


def test_a_package_that_writes_outside_its_folder_is_refused_and_writes_nothing(serve: Serve, client: Any,
                                                                               tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    outside = [Path(f"/tmp/evil-{mark}"), serve.data_dir.parent / f"evil-{mark}", serve.data_dir / f"evil-{mark}"]
    for entry in (f"../../evil-{mark}", f"/tmp/evil-{mark}", f"lib/../../../evil-{mark}"):
        response = refused(client, crafted_zip((entry, b"boom")))
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert response["Error"]["Code"] == "InvalidParameterValueException"
        assert "would be written outside the package folder" in response["Error"]["Message"]
    link = zipfile.ZipInfo("escape")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(link, "../../../../tmp")
        archive.writestr(f"escape/evil-{mark}", b"boom")
    response = refused(client, buffer.getvalue())
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert not [path for path in outside if path.exists()]
    assert not list(serve.data_dir.rglob(f"evil-{mark}"))
    with pytest.raises(botocore.exceptions.ClientError, match="ResourceNotFoundException"):
        client.get_function(FunctionName="evil")


def test_a_zip_bomb_is_refused(client: Any) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("fns.py", "def echo(event, context):\n    return event\n")
        archive.writestr("bomb.bin", bytes(64 * 1024 * 1024))
    response = refused(client, buffer.getvalue())
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "'bomb.bin' claims 67108864 bytes" in response["Error"]["Message"]


def test_a_package_of_more_than_100_000_entries_is_refused(client: Any) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # ~9 MB: far under every size limit
        archive.writestr("fns.py", "def echo(event, context):\n    return event\n")
        for number in range(100_000):
            archive.writestr(zipfile.ZipInfo(f"node_modules/{number}"), b"")
    response = refused(client, buffer.getvalue(), name="inodes")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert "it has 100001 entries, and a package may have at most 100000" in response["Error"]["Message"]


def test_an_upload_over_50_mb_is_refused_as_too_large(serve: Serve) -> None:
    response = refused(serve.client(), bytes(50 * 1024 * 1024 + 1))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert response["Error"]["Code"] == "RequestTooLargeException"
    assert "at most 52428800 bytes" in response["Error"]["Message"]


@pytest.mark.parametrize("name", ["has space", "x" * 65, "semi;colon", "dots.are.not.allowed", ""])
def test_a_function_name_outside_lambdas_pattern_is_refused(serve: Serve, name: str) -> None:
    response = refused(serve.client(validate=False), crafted_zip(), name=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert response["Error"]["Message"] == (f"FunctionName {name!r} is not valid: use 1 to 64 letters, digits, "
                                            "'-' or '_', or the function's ARN")


def test_an_event_invocation_over_1_mb_is_refused(client: Any) -> None:
    client.create_function(FunctionName="events", Runtime="python3.12", Role=ROLE, Handler="fns.echo",
                           Code={"ZipFile": crafted_zip()})
    limit = 1024 * 1024
    fits = b'"' + b"x" * (limit - 2) + b'"'
    assert client.invoke(FunctionName="events", InvocationType="Event", Payload=fits)["StatusCode"] == 202
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.invoke(FunctionName="events", InvocationType="Event", Payload=fits[:-1] + b'x"')
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert response["Error"]["Code"] == "RequestTooLargeException"
    assert f"smaller than {limit} bytes for an asynchronous invocation" in response["Error"]["Message"]


def raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.settimeout(30)
    return sock


def response_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (bounded by the socket's timeout and 1 MiB)."""
    data = b""
    while len(data) < 1 << 20:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(serve: Serve) -> None:
    with raw(serve.process.control) as sock:
        sock.sendall(b"POST /2015-03-31/functions/events/invocations HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: %d\r\n\r\n" % (6 * 1024 * 1024 + 1))
        answer = response_of(sock)  # the server answers and closes without waiting for a byte of the body
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"RequestTooLargeException" in answer


def send_chunks_until_answered(sock: socket.socket, most: int) -> tuple[bytes, int]:
    """Send a chunked body in 64 KiB chunks, never its last (empty) chunk, until the server's answer begins or
    ``most`` bytes are sent: the whole answer, and the body bytes sent when it began."""
    chunk = b"x" * 65536
    sent = 0
    while sent < most and not select.select([sock], [], [], 0)[0]:
        try:
            sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        except OSError:
            break  # the server answered and closed while we were still sending
        sent += len(chunk)
    try:
        sock.shutdown(socket.SHUT_WR)  # no more body: the server, which drops what it did not read, may close now
    except OSError:
        pass
    return response_of(sock), sent


def test_a_chunked_body_is_counted_and_stopped_at_the_limit(serve: Serve) -> None:
    with raw(serve.process.control) as sock:
        sock.sendall(b"POST /2015-03-31/functions/events/invocations HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        answer, sent = send_chunks_until_answered(sock, 64 * 1024 * 1024)  # the body never ends
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    print(f"answered after {sent} bytes")
    assert sent < 16 * 1024 * 1024  # 6 MiB, and what the sockets' buffers hold


def test_an_overlong_url_gets_414(serve: Serve) -> None:
    with raw(serve.process.gateway) as sock:
        sock.sendall(b"GET /" + b"a" * (20 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response_of(sock).startswith(b"HTTP/1.1 414 ")


def test_a_slowloris_client_times_out_and_the_gateway_keeps_serving(serve: Serve) -> None:
    started = time.monotonic()
    with raw(serve.process.gateway) as slow:
        slow.setblocking(False)
        answer = b""
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:  # one byte a second, at most ~60 s
            try:
                slow.send(bytes([byte]))
            except OSError:
                break  # closed by the server
            assert serve.gateway.get("/hearth-no-such-route").status_code == 404  # others are still served
            try:
                answer = slow.recv(65536)
            except BlockingIOError:
                answer = b""
            if answer:
                break
            time.sleep(1.0)  # the slow client's pace, not synchronisation
    elapsed = time.monotonic() - started
    print(f"slowloris: answered {answer[:12]!r} after {elapsed:.1f} s")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 15


DECLARED = 2 * 1024 * 1024
ANSWER_WAIT_S = 10.0  # well under the server's 30 s body timeout: an answer that waits for the body never comes


def declared_but_not_sent(url: str, path: str, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes,
                                                                                  float]:
    """POST with a Content-Length of 2 MB and only a few bytes of body, through http.client (which reads the
    answer without sending the rest): the response, its body and how long it took to come."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=ANSWER_WAIT_S)
    try:
        connection.putrequest("POST", path)
        for name, value in {**headers, "Content-Length": str(DECLARED)}.items():
            connection.putheader(name, value)
        started = time.monotonic()
        connection.endheaders(b'{"only": "a few bytes')
        response = connection.getresponse()
        return response, response.read(), time.monotonic() - started
    finally:
        connection.close()


def test_an_event_invoke_declared_over_1_mb_is_refused_before_its_body(serve: Serve) -> None:
    response, body, elapsed = declared_but_not_sent(
        serve.process.control, "/2015-03-31/functions/events/invocations",
        {"X-Amz-Invocation-Type": "Event", "Authorization": f"Bearer {serve.key['token']}"})
    assert response.status == 413 and elapsed < 5
    assert response.getheader("x-amzn-errortype") == "RequestTooLargeException"
    assert (f"smaller than {1024 * 1024} bytes for an asynchronous invocation (Event), got {DECLARED} bytes"
            in body.decode())


def test_an_async_route_declared_over_1_mb_is_refused_before_its_body(serve: Serve, hook: str) -> None:
    response, body, elapsed = declared_but_not_sent(serve.process.gateway, hook, {})
    assert response.status == 413 and elapsed < 5
    error = json.loads(body)
    assert error["errorType"] == "RequestTooLargeException"
    assert f"for an asynchronous invocation (Event), got {DECLARED} bytes" in error["errorMessage"]
    accepted = serve.gateway.post(hook, content=b"x" * 1000)
    assert accepted.status_code == 202, accepted.text


def test_an_async_routes_event_over_1_mb_with_its_headers_is_refused(serve: Serve, hook: str) -> None:
    answer = serve.gateway.post(hook, content=b"x" * (1024 * 1024 - 16))  # the body fits, its event does not
    assert answer.status_code == 413
    assert answer.json()["errorType"] == "RequestTooLargeException"
    assert "(its event: the body, base64 if binary, and the request's headers)" in answer.json()["errorMessage"]


@pytest.mark.parametrize("target", ["control", "gateway"])
def test_a_chunked_event_is_refused_as_it_passes_1_mb(serve: Serve, hook: str, target: str) -> None:
    if target == "control":
        url, head = serve.process.control, (b"POST /2015-03-31/functions/events/invocations HTTP/1.1\r\nHost: x\r\n"
                                            b"X-Amz-Invocation-Type: Event\r\n")
    else:
        url, head = serve.process.gateway, b"POST %b HTTP/1.1\r\nHost: x\r\n" % hook.encode()
    with raw(url) as sock:
        sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
        answer, sent = send_chunks_until_answered(sock, 64 * 1024 * 1024)  # the body never ends
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"RequestTooLargeException" in answer and b"asynchronous invocation (Event)" in answer
    print(f"answered after {sent} bytes")
    assert sent < 11 * 1024 * 1024  # 1 MiB, and what the sockets' buffers hold
