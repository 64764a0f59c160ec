"""The gateway over real HTTP: routing, the payload 2.0 event, response mapping and error statuses."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from conftest import HearthProcess


def test_route_params_and_payload_v2_event(gateway: httpx.Client) -> None:
    response = gateway.get("/echo/ada?x=1&x=2&empty=", headers={"X-Multi": "a", "Cookie": "c1=v1; c2=v2",
                                                                "User-Agent": "tester/1"})
    assert response.status_code == 200
    event = response.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /echo/{name}"
    assert event["rawPath"] == "/echo/ada"
    assert event["rawQueryString"] == "x=1&x=2&empty="
    assert event["queryStringParameters"] == {"x": "1,2", "empty": ""}
    assert event["pathParameters"] == {"name": "ada"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "a"
    assert event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert context["http"] == {"method": "GET", "path": "/echo/ada", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "tester/1"}
    assert context["stage"] == "$default" and context["routeKey"] == "GET /echo/{name}"
    assert context["requestId"] == response.headers["x-amzn-requestid"]
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith("+0000")


def test_greedy_route_and_text_and_binary_bodies(gateway: httpx.Client) -> None:
    event = gateway.post("/files/a/b/c.txt", content=b'{"k": 1}',
                         headers={"Content-Type": "application/json"}).json()["event"]
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False
    raw = bytes(range(256))
    event = gateway.put("/files/blob", content=raw,
                        headers={"Content-Type": "application/octet-stream"}).json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_response_mapping(gateway: httpx.Client) -> None:
    full = gateway.get("/respond?kind=full")
    assert full.status_code == 201
    assert full.text == "created"
    assert full.headers["x-custom"] == "yes" and full.headers["x-number"] == "7"
    assert full.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    binary = gateway.get("/respond?kind=binary")
    assert binary.content == b"\x89PNG\x00\xff" and binary.headers["content-type"] == "image/png"
    plain = gateway.get("/respond")
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    assert plain.json() == {"plain": True, "items": [1, 2, 3]}
    assert gateway.get("/respond?kind=string").json() == "just a string"
    bad = gateway.get("/respond?kind=bad-status")
    assert bad.status_code == 502 and bad.json()["errorType"] == "Runtime.MalformedProxyResponse"
    huge = gateway.get("/respond?kind=huge")
    assert huge.status_code == 502 and huge.json()["errorType"] == "Function.ResponseSizeTooLarge"
    assert gateway.get("/respond").status_code == 200  # the instance goes on


def test_unknown_route_and_wrong_method_are_404(gateway: httpx.Client) -> None:
    for response in (gateway.get("/nowhere"), gateway.delete("/echo/ada")):
        assert response.status_code == 404
        assert response.json()["message"] == "Not Found"
        assert response.json()["errorType"] == "NotFound"
        assert response.headers["x-amzn-requestid"]


def test_request_over_6mb_is_413(gateway: httpx.Client) -> None:
    response = gateway.post("/echo/big", content=b"x" * (6 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["errorType"] == "RequestTooLargeException"
    assert gateway.get("/echo/after").status_code == 200


def test_chunked_request_over_6mb_is_413(gateway: httpx.Client) -> None:
    def chunks():  # no Content-Length: the limit must hold while streaming
        for _ in range(7):
            yield b"y" * (1024 * 1024)

    response = gateway.post("/echo/big", content=chunks())
    assert response.status_code == 413


def test_production_mode_hides_error_details(tmp_path: object) -> None:
    from conftest import PROJECTS

    hearth = HearthProcess(PROJECTS / "core", "--no-watch", "--quiet", "--hide-errors").start()
    try:
        response = httpx.get(f"{hearth.gateway}/boom", timeout=30)
        assert response.status_code == 502
        assert response.json() == {"message": "Internal Server Error"}
        assert response.headers["x-amzn-requestid"]
        assert "it went wrong" not in response.text
        throttled = httpx.get(f"{hearth.gateway}/disabled", timeout=30)
        assert throttled.json()["errorType"] == "TooManyRequestsException"  # client errors keep their name
    finally:
        hearth.stop()


def test_behind_a_trusted_proxy_the_client_scheme_and_https_redirect_come_from_it(project_copy: Any) -> None:
    hearth = HearthProcess(project_copy("core"), "--no-watch", "--trusted-proxy", "127.0.0.0/8",
                           "--https-redirect").start()
    try:
        with httpx.Client(base_url=hearth.gateway, timeout=30) as client:
            plain = client.get("/echo/ada?x=1", headers={"X-Forwarded-Proto": "http",
                                                         "X-Forwarded-Host": "shop.example.com"})
            assert plain.status_code == 301
            assert plain.headers["location"] == "https://shop.example.com/echo/ada?x=1"
            assert plain.headers["x-amzn-requestid"]
            secure = client.get("/echo/ada", headers={"X-Forwarded-Proto": "https",
                                                      "X-Forwarded-For": "6.6.6.6, 198.51.100.9"})
            assert secure.status_code == 200
            event = secure.json()["event"]
            assert event["requestContext"]["http"]["sourceIp"] == "198.51.100.9"
            assert event["headers"]["x-forwarded-proto"] == "https"
    finally:
        assert hearth.stop() == 0


def test_as_the_edge_the_gateway_believes_no_forwarded_header(gateway: httpx.Client) -> None:
    response = gateway.get("/echo/ada", headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "6.6.6.6"})
    assert response.status_code == 200  # no redirect: not configured, and the client is not a trusted proxy
    event = response.json()["event"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-for"] == "6.6.6.6, 127.0.0.1"  # the peer appended, as API Gateway does
