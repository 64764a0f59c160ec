"""The request an API Gateway 2.0 event describes, and the 2.0 response a buffered HTTP response becomes."""

from __future__ import annotations

import pytest
from entry_events import event, header, respond

from hearth.runtimes.python.entry.request import proxy_response, request_from_event


def test_the_request_of_a_gateway_event() -> None:
    request = request_from_event(event("POST", "/api/users/a%20b?x=1&x=2", [
        ("Host", "example.com:8080"), ("Content-Type", "text/plain"), ("Cookie", "a=1; b=2"),
        ("X-Forwarded-Proto", "https"), ("Accept", "text/html"), ("Accept", "application/json"),
        ("Expect", "100-continue")], b"hello"))
    assert request.method == "POST"
    assert request.raw_path == "/api/users/a%20b" and request.query == "x=1&x=2"
    assert request.body == b"hello" and request.header("content-length") == "5"
    assert request.header("cookie") == "a=1; b=2"  # the gateway moved it to ``cookies``: it is restored
    assert request.header("accept") == "text/html,application/json"
    assert request.header("expect") == ""  # the gateway has answered it
    assert request.scheme == "https" and request.http_version == "1.1"
    assert request.server == ("example.com", 8080) and request.client == ("203.0.113.7", 0)


def test_binary_bodies_arrive_decoded_and_framing_is_the_bodys_own() -> None:
    payload = bytes(range(256))
    made = event("PUT", "/up", [("host", "h"), ("content-type", "application/octet-stream"),
                                ("transfer-encoding", "chunked")], payload)
    assert made["isBase64Encoded"] is True
    request = request_from_event(made)
    assert request.body == payload
    assert request.header("content-length") == "256" and request.header("transfer-encoding") == ""


@pytest.mark.parametrize(("headers", "server"), [
    ([("host", "example.com")], ("example.com", 80)),
    ([("host", "example.com"), ("x-forwarded-proto", "https")], ("example.com", 443)),
    ([("host", "example.com"), ("x-forwarded-port", "8443")], ("example.com", 8443)),
    ([("host", "[::1]:9000")], ("[::1]", 9000)),
    ([("host", "[::1]")], ("[::1]", 80)),
])
def test_server_name_and_port_come_from_host(headers: list[tuple[str, str]], server: tuple[str, int]) -> None:
    assert request_from_event(event("GET", "/", headers)).server == server


def test_a_bare_event_is_a_get_of_the_root() -> None:
    request = request_from_event({})
    assert (request.method, request.raw_path, request.query, request.body) == ("GET", "/", "", b"")
    assert request.server == ("localhost", 80) and request.headers == ()


def test_text_outside_latin_1_travels_as_utf_8_bytes() -> None:
    request = request_from_event({"rawPath": "/caf\u00e9", "headers": {"x-name": "\u4e16\u754c"}})
    assert request.raw_path == "/caf\u00e9"  # latin-1 already: one byte per character
    assert request.header("x-name").encode("latin-1") == "\u4e16\u754c".encode()


def test_an_event_must_be_an_object() -> None:
    with pytest.raises(TypeError, match="API Gateway payload 2.0 event"):
        request_from_event(["not", "an", "event"])


def test_the_response_shape() -> None:
    response = proxy_response(200, [
        ("Content-Type", "text/plain"), ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; HttpOnly"),
        ("Vary", "Accept"), ("Vary", "Origin"), ("Content-Length", "2"), ("Connection", "close"),
        ("Transfer-Encoding", "chunked")], b"ok")
    assert response == {"statusCode": 200, "headers": {"content-type": "text/plain", "vary": "Accept, Origin"},
                        "cookies": ["a=1; Path=/", "b=2; HttpOnly"], "body": "ok", "isBase64Encoded": False}
    status, headers, body = respond(response)
    assert status == 200 and body == b"ok"
    assert header(headers, "set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_bodies_that_are_not_utf_8_go_in_base64() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00"
    response = proxy_response(200, [("Content-Type", "image/png")], png)
    assert response["isBase64Encoded"] is True and "cookies" not in response
    assert respond(response)[2] == png
    text = "na\u00efve \u2603".encode()
    assert proxy_response(200, [], text)["body"] == "na\u00efve \u2603"
