"""API Gateway HTTP API payload format 2.0: request → event, and function result → HTTP response."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qsl

import orjson

from hearth import errors
from hearth.gateway.forwarded import FORWARDED
from hearth.gateway.routes import Match
from hearth.model import ACCOUNT_ID

API_ID = "hearth"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded", "application/graphql", "+json", "+xml")
_JSON_HEADERS = [(b"content-type", b"application/json")]


class _Clock:
    """API Gateway's ``requestContext.time`` string, formatted once per second rather than per request."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def text(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))
        return self._text


_clock = _Clock()


def is_text(content_type: str) -> bool:
    content_type = content_type.lower()
    return any(marker in content_type for marker in _TEXT_TYPES)


def build_event(scope: dict[str, Any], body: bytes, match: Match, request_id: str,
                authorizer: dict[str, Any] | None = None,
                raw_headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    """The payload 2.0 event for one HTTP request; ``authorizer`` is the route auth's
    ``requestContext.authorizer`` (``auth.py``), if any; ``raw_headers``, the request's headers as the function
    sees them, when they are not the scope's."""
    raw = scope["headers"] if raw_headers is None else raw_headers
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}
    cookies: list[str] = []
    if len(headers) != len(raw) or "cookie" in headers:  # (the common case has neither: one pass is enough)
        headers, cookies = _joined(raw)
    client = scope.get("client")
    if client and FORWARDED not in scope:  # the gateway is the edge: API Gateway's own X-Forwarded-* headers
        claimed = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{claimed}, {client[0]}" if claimed else client[0]
        headers["x-forwarded-proto"] = scope.get("scheme", "http")
        server = scope.get("server")
        if server:
            headers["x-forwarded-port"] = str(server[1])
    method = scope["method"]
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else scope["path"]
    query = scope["query_string"].decode("latin-1")
    now = time.time()
    route_key = match.route.route_key(method)
    domain = headers.get("host", "localhost").split(":", 1)[0]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": client[0] if client else "",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": _clock.text(now),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if cookies:
        event["cookies"] = cookies
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            previous = params.get(key)
            params[key] = value if previous is None else f"{previous},{value}"
        event["queryStringParameters"] = params
    if match.params:
        event["pathParameters"] = match.params
    if body:
        if is_text(headers.get("content-type", "text/plain")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def _joined(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], list[str]]:
    """The event's ``headers`` (a repeated name's values comma-joined) and ``cookies`` (split out of ``Cookie``)."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        previous = headers.get(name)
        headers[name] = value if previous is None else f"{previous},{value}"
    return headers, cookies


def map_result(payload: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body for a function's JSON result, as API Gateway maps format 2.0 responses."""
    if b'"statusCode"' not in payload:
        return 200, list(_JSON_HEADERS), payload
    value = orjson.loads(payload)
    if not isinstance(value, dict) or "statusCode" not in value:
        return 200, list(_JSON_HEADERS), payload
    status = value["statusCode"]
    if isinstance(status, str) and status.isascii() and status.isdecimal():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise errors.MalformedProxyResponse(f"statusCode must be an integer from 100 to 599, got {status!r}")
    try:
        return _map_response(value, status)
    except UnicodeEncodeError as exc:
        raise errors.MalformedProxyResponse(
            f"a response header or cookie has a character HTTP cannot carry ({exc.object[exc.start:exc.end]!r}); "
            "encode it (e.g. percent-encoding) before returning it") from None


def _map_response(value: dict[str, Any], status: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers: list[tuple[bytes, bytes]] = []
    raw_headers = value.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise errors.MalformedProxyResponse("headers must be an object of header names to values")
    for name, header_value in raw_headers.items():
        headers.append((str(name).lower().encode("latin-1"), _header_text(header_value).encode("latin-1")))
    multi = value.get("multiValueHeaders") or {}
    if isinstance(multi, dict):
        for name, values in multi.items():
            for item in values if isinstance(values, list) else [values]:
                headers.append((str(name).lower().encode("latin-1"), _header_text(item).encode("latin-1")))
    cookies = value.get("cookies") or []
    if not isinstance(cookies, list):
        raise errors.MalformedProxyResponse("cookies must be a list of Set-Cookie strings")
    for cookie in cookies:
        headers.append((b"set-cookie", str(cookie).encode("latin-1")))
    body = value.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if value.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                raise errors.MalformedProxyResponse("isBase64Encoded is true but body is not valid base64") from None
        else:
            data = body.encode("utf-8")
    else:
        data = orjson.dumps(body)
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))
    return status, headers, data


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
