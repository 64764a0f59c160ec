"""API Gateway HTTP API payload format 2.0: ``build_event`` (request → event) and ``map_result`` (result → HTTP)."""

from __future__ import annotations

import base64
import calendar
import re
import time
from typing import Any

import orjson
import pytest

from hearth import errors
from hearth.config.settings import parse_networks
from hearth.gateway.events import build_event, map_result
from hearth.gateway.forwarded import Edge
from hearth.gateway.routes import Match
from hearth.model import RouteSpec

GET_NAME = Match(RouteSpec("/hello/{name}", "hello", frozenset({"GET"})), {"name": "ada"})
ANY_X = Match(RouteSpec("/x", "x"), {})


def scope(method: str = "GET", path: str = "/hello/ada", query: bytes = b"",
          headers: list[tuple[bytes, bytes]] | None = None, **extra: Any) -> dict[str, Any]:
    """An ASGI HTTP scope as an ASGI server hands it over."""
    made: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query,
        "headers": headers if headers is not None else [(b"host", b"localhost:8080")],
        "client": ("203.0.113.7", 51234),
        "server": ("127.0.0.1", 8080),
    }
    made.update(extra)
    return made


def test_the_whole_event() -> None:
    before = time.time()
    event = build_event(
        scope(query=b"a=1&b=two", headers=[
            (b"Host", b"api.example.com:8080"),
            (b"User-Agent", b"curl/8.5.0"),
            (b"Content-Type", b"application/json"),
        ]),
        b'{"ok": true}', GET_NAME, "req-1",
    )
    after = time.time()
    context = event.pop("requestContext")
    assert event == {
        "version": "2.0",
        "routeKey": "GET /hello/{name}",
        "rawPath": "/hello/ada",
        "rawQueryString": "a=1&b=two",
        "headers": {"host": "api.example.com:8080", "user-agent": "curl/8.5.0", "content-type": "application/json",
                    "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "http", "x-forwarded-port": "8080"},
        "queryStringParameters": {"a": "1", "b": "two"},
        "pathParameters": {"name": "ada"},
        "body": '{"ok": true}',
        "isBase64Encoded": False,
    }
    time_text = context.pop("time")
    time_epoch = context.pop("timeEpoch")
    assert context == {
        "accountId": "000000000000",
        "apiId": "hearth",
        "domainName": "api.example.com",
        "domainPrefix": "api",
        "http": {
            "method": "GET",
            "path": "/hello/ada",
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "req-1",
        "routeKey": "GET /hello/{name}",
        "stage": "$default",
    }
    assert isinstance(time_epoch, int)
    assert int(before * 1000) <= time_epoch <= int(after * 1000)
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", time_text)
    parsed = calendar.timegm(time.strptime(time_text, "%d/%b/%Y:%H:%M:%S +0000"))
    assert parsed == time_epoch // 1000


def test_route_key_of_a_route_without_methods_is_any() -> None:
    event = build_event(scope(method="DELETE", path="/x"), b"", ANY_X, "r")
    assert event["routeKey"] == "ANY /x"
    assert event["requestContext"]["routeKey"] == "ANY /x"
    assert event["requestContext"]["http"]["method"] == "DELETE"


def test_route_key_names_the_request_method() -> None:
    match = Match(RouteSpec("/x", "x", frozenset({"GET", "POST"})), {})
    assert build_event(scope(method="POST", path="/x"), b"", match, "r")["routeKey"] == "POST /x"


def test_optional_fields_are_absent_when_empty() -> None:
    event = build_event(scope(path="/x"), b"", ANY_X, "r")
    for key in ("cookies", "queryStringParameters", "pathParameters", "body"):
        assert key not in event
    assert event["rawQueryString"] == ""
    assert event["isBase64Encoded"] is False


def test_cookies_are_split_out_of_the_headers() -> None:
    event = build_event(scope(headers=[
        (b"cookie", b"a=1; b=2"),
        (b"Cookie", b"c=3;"),
        (b"accept", b"*/*"),
    ]), b"", GET_NAME, "r")
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"] and event["headers"]["accept"] == "*/*"


def test_headers_are_lower_cased_and_repeats_comma_joined() -> None:
    event = build_event(scope(headers=[
        (b"X-Custom", b"1"),
        (b"x-custom", b"2"),
        (b"Accept", b"text/html"),
        (b"ACCEPT", b"application/json"),
    ], client=None), b"", GET_NAME, "r")
    assert event["headers"] == {"x-custom": "1,2", "accept": "text/html,application/json"}


def test_the_gateway_as_the_edge_appends_the_peer_to_what_a_client_claims_as_api_gateway_does() -> None:
    event = build_event(scope(headers=[
        (b"X-Forwarded-For", b"10.0.0.1"),
        (b"x-forwarded-for", b"10.0.0.2"),
        (b"X-Forwarded-Proto", b"https"),
    ]), b"", GET_NAME, "r")
    assert event["headers"]["x-forwarded-for"] == "10.0.0.1,10.0.0.2, 203.0.113.7"
    assert event["headers"]["x-forwarded-proto"] == "http"  # the gateway's own scheme, not the claim
    assert event["requestContext"]["http"]["sourceIp"] == "203.0.113.7"


def test_through_a_trusted_proxy_its_headers_stand_and_the_source_is_the_client_it_names() -> None:
    request = scope(headers=[(b"host", b"internal:8080"), (b"x-forwarded-for", b"198.51.100.9"),
                             (b"x-forwarded-proto", b"https"), (b"x-forwarded-host", b"shop.example.com")],
                    client=("10.1.2.3", 40000))
    assert Edge(parse_networks(["10.0.0.0/8"])).resolve(request) is None
    event = build_event(request, b"", GET_NAME, "r")
    assert event["requestContext"]["http"]["sourceIp"] == "198.51.100.9"
    assert event["headers"]["x-forwarded-for"] == "198.51.100.9"
    assert event["headers"]["x-forwarded-proto"] == "https"


def test_query_parameters_are_decoded_and_repeats_comma_joined() -> None:
    event = build_event(scope(query=b"tag=a&tag=b&q=hello%20world&empty=&plus=a+b"), b"", GET_NAME, "r")
    assert event["rawQueryString"] == "tag=a&tag=b&q=hello%20world&empty=&plus=a+b"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "hello world", "empty": "", "plus": "a b"}


def test_raw_path_keeps_the_encoding_the_client_sent() -> None:
    event = build_event(scope(path="/hello/a b", raw_path=b"/hello/a%20b"), b"", GET_NAME, "r")
    assert event["rawPath"] == "/hello/a%20b"
    assert event["requestContext"]["http"]["path"] == "/hello/a%20b"


def test_path_is_used_when_there_is_no_raw_path() -> None:
    event = build_event(scope(path="/hello/ada", raw_path=None), b"", GET_NAME, "r")
    assert event["rawPath"] == "/hello/ada"


def test_defaults_without_host_user_agent_or_client() -> None:
    event = build_event(scope(headers=[], client=None, http_version="2"), b"", GET_NAME, "r")
    http = event["requestContext"]["http"]
    assert (http["sourceIp"], http["userAgent"], http["protocol"]) == ("", "", "HTTP/2")
    assert event["requestContext"]["domainName"] == "localhost"


@pytest.mark.parametrize("content_type", [b"text/plain; charset=utf-8", b"application/json",
                                          b"application/vnd.api+json", b"application/x-www-form-urlencoded"])
def test_a_text_body_is_passed_as_text(content_type: bytes) -> None:
    body = "naïve = ☃".encode()
    event = build_event(scope(headers=[(b"content-type", content_type)]), body, GET_NAME, "r")
    assert event["body"] == "naïve = ☃"
    assert event["isBase64Encoded"] is False


def test_a_body_without_content_type_is_treated_as_text() -> None:
    event = build_event(scope(headers=[]), b"plain", GET_NAME, "r")
    assert (event["body"], event["isBase64Encoded"]) == ("plain", False)


@pytest.mark.parametrize("content_type", [b"image/png", b"application/octet-stream"])
def test_a_binary_body_is_base64_encoded(content_type: bytes) -> None:
    body = b"\x89PNG\r\n\x1a\n\x00\xff"
    event = build_event(scope(headers=[(b"content-type", content_type)]), body, GET_NAME, "r")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_a_text_body_that_is_not_utf8_is_base64_encoded() -> None:
    body = b"caf\xe9"
    event = build_event(scope(headers=[(b"content-type", b"text/plain")]), body, GET_NAME, "r")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_the_event_is_json_serialisable() -> None:
    event = build_event(scope(headers=[(b"content-type", b"image/png")]), b"\x00\x01", GET_NAME, "r")
    assert orjson.loads(orjson.dumps(event)) == event


# -- map_result ------------------------------------------------------------------------------------------------


def result(value: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return map_result(orjson.dumps(value))


def test_a_full_proxy_response() -> None:
    status, headers, body = result({
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "X-Request": "abc"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": "created",
        "isBase64Encoded": False,
    })
    assert status == 201
    assert headers == [
        (b"content-type", b"text/plain"),
        (b"x-request", b"abc"),
        (b"set-cookie", b"a=1; Path=/"),
        (b"set-cookie", b"b=2"),
    ]
    assert body == b"created"


def test_a_base64_body_is_decoded() -> None:
    raw = b"\x89PNG\x00\xff"
    status, headers, body = result({"statusCode": 200, "headers": {"content-type": "image/png"},
                                    "body": base64.b64encode(raw).decode(), "isBase64Encoded": True})
    assert (status, body) == (200, raw)
    assert headers == [(b"content-type", b"image/png")]


def test_a_text_body_is_utf8_encoded() -> None:
    assert result({"statusCode": 200, "body": "☃"})[2] == "☃".encode()


@pytest.mark.parametrize("value", [{"hello": "world"}, [1, 2], "text", 42, None, {"status": 500}])
def test_anything_but_a_proxy_response_is_returned_unchanged_as_json(value: Any) -> None:
    payload = orjson.dumps(value)
    assert map_result(payload) == (200, [(b"content-type", b"application/json")], payload)


def test_a_statuscode_inside_something_else_is_not_a_proxy_response() -> None:
    payload = orjson.dumps([{"statusCode": 404}])
    assert map_result(payload) == (200, [(b"content-type", b"application/json")], payload)
    payload = orjson.dumps({"data": {"statusCode": 404}})
    assert map_result(payload) == (200, [(b"content-type", b"application/json")], payload)


def test_a_bare_status_has_an_empty_json_response() -> None:
    assert result({"statusCode": 204}) == (204, [(b"content-type", b"application/json")], b"")


def test_status_given_as_a_string_of_digits() -> None:
    assert result({"statusCode": "404", "body": "gone"})[0] == 404


def test_a_non_string_body_is_sent_as_json() -> None:
    assert result({"statusCode": 200, "body": {"a": [1, 2]}})[2] == b'{"a":[1,2]}'


@pytest.mark.parametrize("value, text", [(3, b"3"), (1.5, b"1.5"), (True, b"true"), (False, b"false")])
def test_numeric_and_bool_header_values(value: Any, text: bytes) -> None:
    assert result({"statusCode": 200, "headers": {"X-Value": value}})[1][0] == (b"x-value", text)


def test_multi_value_headers_are_each_sent() -> None:
    headers = result({"statusCode": 200, "multiValueHeaders": {"Vary": ["Accept", "Origin"]}})[1]
    assert headers[:2] == [(b"vary", b"Accept"), (b"vary", b"Origin")]


@pytest.mark.parametrize("status", [99, 600, -1, "abc", "", "2.5", 200.0, True, None, [200]])
def test_invalid_status_code(status: Any) -> None:
    with pytest.raises(errors.MalformedProxyResponse, match="statusCode must be an integer from 100 to 599"):
        result({"statusCode": status})


def test_malformed_proxy_response_is_a_502_function_failure() -> None:
    with pytest.raises(errors.FunctionFailure) as caught:
        result({"statusCode": 0})
    assert caught.value.status == 502
    assert caught.value.error_type == "Runtime.MalformedProxyResponse"


@pytest.mark.parametrize("body", ["not base64!", "abc"])
def test_bad_base64_body(body: str) -> None:
    with pytest.raises(errors.MalformedProxyResponse, match="isBase64Encoded is true but body is not valid base64"):
        result({"statusCode": 200, "body": body, "isBase64Encoded": True})


@pytest.mark.parametrize("headers", [["content-type", "text/plain"], "content-type: text/plain", 7])
def test_headers_must_be_an_object(headers: Any) -> None:
    with pytest.raises(errors.MalformedProxyResponse, match="headers must be an object"):
        result({"statusCode": 200, "headers": headers})


def test_cookies_must_be_a_list() -> None:
    with pytest.raises(errors.MalformedProxyResponse, match="cookies must be a list"):
        result({"statusCode": 200, "cookies": "a=1"})


def test_a_header_that_cannot_be_sent_is_a_malformed_response() -> None:
    with pytest.raises(errors.MalformedProxyResponse):
        result({"statusCode": 200, "headers": {"X-Name": "日本"}})


def test_a_status_of_unicode_digits_is_a_malformed_response() -> None:
    with pytest.raises(errors.MalformedProxyResponse):
        result({"statusCode": "²"})


def test_a_route_auth_context_is_the_events_authorizer() -> None:
    assert "authorizer" not in build_event(scope(), b"", GET_NAME, "r1")["requestContext"]
    context = {"jwt": {"claims": {"sub": "u"}, "scopes": None}}
    assert build_event(scope(), b"", GET_NAME, "r1", context)["requestContext"]["authorizer"] == context
