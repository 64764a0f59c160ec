"""The dashboard's ASGI app over a fake control API (the ``call`` seam): sign-in, the session cookie's flags,
CSRF refusals, and actions turned into the control API's operations."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from hearth import errors
from hearth.api.auth import keyring, new_credentials
from hearth.api.lambda_api import ApiResponse, ok
from hearth.dashboard.app import Dashboard, server_sent

ADMIN = new_credentials()


class FakeApi:
    """Answers the control API operations the pages ask for, and records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str], bytes, dict[str, str], str]] = []
        self.closed = False

    async def __call__(self, method: str, path: str, query: Mapping[str, str] | None = None, body: bytes = b"",
                       headers: Mapping[str, str] | None = None, caller: str = "") -> ApiResponse:
        self.calls.append((method, path, dict(query or {}), body, dict(headers or {}), caller))
        if (method, path) == ("GET", "/2015-03-31/functions"):
            return ok({"Functions": [{"FunctionName": "fn", "Runtime": "python"}]})
        if path == "/hearth/stats":
            return ok({"since": 0.0, "until": 3600.0, "functions": []})
        if path == "/hearth/instances":
            return ok({"instances": []})
        if path == "/hearth/invocations":
            return ok({"invocations": []})
        if path == "/hearth/idle":
            return ok({"days": 3650, "functions": []})
        if path.endswith("/invocations") and method == "POST":
            if b"boom" in body:
                raise errors.TooManyRequests("Rate exceeded")
            tail = base64.b64encode(b"START RequestId: r-1\nREPORT RequestId: r-1\tDuration: 1.00 ms\n")
            return ApiResponse(200, b'{"ok": true}', [(b"x-amzn-requestid", b"r-1"),
                                                      (b"x-amz-executed-version", b"$LATEST"),
                                                      (b"x-amz-log-result", tail)])
        if method == "PUT" and "/aliases/" in path:
            return ok({"Name": "live"})
        if path == "/2015-03-31/functions/fn":
            return ok({"Configuration": {"FunctionName": "fn", "Runtime": "python"}})
        if path.endswith("/versions"):
            return ok({"Versions": [{"Version": "$LATEST"}, {"Version": "1"}, {"Version": "2"}]})
        if path.endswith("/aliases"):
            return ok({"Aliases": [{"Name": "live", "FunctionVersion": "1", "RevisionId": "r1"}]})
        if path.endswith("/provisioned-concurrency"):
            return ok({"ProvisionedConcurrencyConfigs": []})
        if path == "/hearth/logs" and (query or {}).get("follow") == "1":
            return ApiResponse(200, _ndjson(ENTRY), [(b"content-type", b"application/x-ndjson")],
                               stream=self._follow())
        if path == "/hearth/logs":
            return ok([])
        if path.startswith("/hearth/functions/"):
            return ok({})
        raise errors.ResourceNotFound(f"fake: no {method} {path}")


    async def _follow(self) -> Any:
        try:
            yield _ndjson({"type": "hearth.keepalive"}) + _ndjson({"type": "hearth.lost", "count": 3})
            yield _ndjson({**ENTRY, "request_id": "r-2"})
        finally:
            self.closed = True


ENTRY = {"type": "invocation", "request_id": "r-1", "function": "fn", "status": "success", "time": 5.0,
         "lines": [{"time": 4.0, "message": "START <b>"}, {"time": 5.0, "message": "REPORT"}]}


def _ndjson(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc) + b"\n"


class Answer:
    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = {name.decode(): value.decode() for name, value in headers}
        self.cookies = [value.decode() for name, value in headers if name == b"set-cookie"]
        self.text = body.decode()


def request(app: Dashboard, method: str, path: str, form: dict[str, str] | None = None,
            headers: dict[str, str] | None = None, scheme: str = "http") -> Answer:
    body = urlencode(form or {}).encode()
    path, _, query = path.partition("?")
    raw = [(b"host", b"127.0.0.1:9090")] + [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(), "headers": raw,
             "scheme": scheme}
    sent: list[dict[str, Any]] = []

    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays: a streamed answer ends when its stream does
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return Answer(sent[0]["status"], sent[0]["headers"], b"".join(m.get("body", b"") for m in sent[1:]))


def signed_in(app: Dashboard) -> tuple[dict[str, str], str]:
    """Sign in with the admin key; the cookie header to send and the session's CSRF token."""
    answer = request(app, "POST", "/dashboard/signin",
                     {"access_key_id": ADMIN.access_key_id, "secret": ADMIN.secret_access_key})
    assert answer.status == 303, answer.text
    token = answer.cookies[0].split(";")[0]
    session = app.sessions.get(token.split("=", 1)[1])
    assert session is not None
    return {"cookie": token}, session.csrf


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def app(api: FakeApi) -> Dashboard:
    return Dashboard(api, keyring([ADMIN]))


def test_pages_redirect_to_sign_in_without_a_session(app: Dashboard, api: FakeApi) -> None:
    answer = request(app, "GET", "/dashboard/")
    assert answer.status == 303 and answer.headers["location"] == "/dashboard/signin"
    assert request(app, "GET", "/dashboard").headers["location"] == "/dashboard/"
    assert api.calls == []  # nothing was read for an anonymous browser
    assert request(app, "GET", "/dashboard/signin").status == 200


def test_a_wrong_key_gets_401_and_no_cookie(app: Dashboard) -> None:
    answer = request(app, "POST", "/dashboard/signin",
                     {"access_key_id": ADMIN.access_key_id, "secret": "not-the-secret"})
    assert answer.status == 401
    assert answer.cookies == []
    assert "do not sign in" in answer.text
    assert len(app.sessions) == 0


def test_sign_in_sets_an_httponly_samesite_strict_cookie_scoped_to_the_dashboard(app: Dashboard) -> None:
    answer = request(app, "POST", "/dashboard/signin", {"access_key_id": "", "secret": ADMIN.token})
    assert answer.status == 303 and answer.headers["location"] == "/dashboard/"
    [cookie] = answer.cookies
    assert cookie.startswith("hearth_session=")
    assert "; HttpOnly" in cookie and "; SameSite=Strict" in cookie and "; Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    secure = request(app, "POST", "/dashboard/signin", {"access_key_id": "", "secret": ADMIN.token},
                     scheme="https")
    assert secure.cookies[0].endswith("; Secure")


def test_a_signed_in_page_names_the_key_and_is_not_cached_or_framed(app: Dashboard, api: FakeApi) -> None:
    cookie, csrf = signed_in(app)
    answer = request(app, "GET", "/dashboard/", headers=cookie)
    assert answer.status == 200
    assert ADMIN.access_key_id in answer.text and f'value="{csrf}"' in answer.text
    assert answer.headers["cache-control"] == "no-store" and answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert {call[5] for call in api.calls} == {ADMIN.access_key_id}  # the API sees who acted


def test_a_post_without_the_csrf_token_is_refused(app: Dashboard, api: FakeApi) -> None:
    cookie, _ = signed_in(app)
    answer = request(app, "POST", "/dashboard/functions/fn/disable", {}, headers=cookie)
    assert answer.status == 403 and "CSRF token" in answer.text
    answer = request(app, "POST", "/dashboard/functions/fn/disable", {"csrf": "guess"}, headers=cookie)
    assert answer.status == 403
    assert not [call for call in api.calls if call[1].endswith("/disable")]


@pytest.mark.parametrize("headers", [{"sec-fetch-site": "cross-site"}, {"origin": "http://evil.example"}])
def test_a_cross_site_post_is_refused_even_with_the_token(app: Dashboard, api: FakeApi,
                                                          headers: dict[str, str]) -> None:
    cookie, csrf = signed_in(app)
    answer = request(app, "POST", "/dashboard/functions/fn/disable", {"csrf": csrf}, headers={**cookie, **headers})
    assert answer.status == 403 and "Refused" in answer.text
    assert not [call for call in api.calls if call[1].endswith("/disable")]


def test_a_cross_site_sign_in_is_refused(app: Dashboard) -> None:
    answer = request(app, "POST", "/dashboard/signin", {"access_key_id": "", "secret": ADMIN.token},
                     headers={"sec-fetch-site": "cross-site"})
    assert answer.status == 403 and answer.cookies == []


def test_a_post_without_a_session_is_refused(app: Dashboard) -> None:
    answer = request(app, "POST", "/dashboard/functions/fn/disable", {"csrf": "x"})
    assert answer.status == 403 and "Sign in first" in answer.text


def test_the_invoke_form_calls_invoke_with_log_type_tail(app: Dashboard, api: FakeApi) -> None:
    cookie, csrf = signed_in(app)
    answer = request(app, "POST", "/dashboard/functions/fn/invoke",
                     {"csrf": csrf, "payload": '{"a": 1}', "qualifier": "live"}, headers=cookie)
    assert answer.status == 200
    [call] = [call for call in api.calls if call[0] == "POST"]
    assert call[1] == "/2015-03-31/functions/fn/invocations" and call[2] == {"Qualifier": "live"}
    assert call[3] == b'{"a": 1}' and call[4] == {"x-amz-log-type": "Tail"}
    assert "REPORT RequestId: r-1" in answer.text and "&quot;ok&quot;: true" in answer.text


def test_the_invoke_form_shows_bad_json_and_api_errors_on_the_page(app: Dashboard, api: FakeApi) -> None:
    cookie, csrf = signed_in(app)
    answer = request(app, "POST", "/dashboard/functions/fn/invoke", {"csrf": csrf, "payload": "{nope"},
                     headers=cookie)
    assert answer.status == 400 and "not JSON" in answer.text and "{nope" in answer.text
    answer = request(app, "POST", "/dashboard/functions/fn/invoke", {"csrf": csrf, "payload": '"boom"'},
                     headers=cookie)
    assert answer.status == 429 and "Rate exceeded" in answer.text


def test_the_weight_slider_becomes_update_alias(app: Dashboard, api: FakeApi) -> None:
    cookie, csrf = signed_in(app)
    answer = request(app, "POST", "/dashboard/functions/fn/aliases/live",
                     {"csrf": csrf, "version": "2", "weight": "30", "revision_id": "r1"}, headers=cookie)
    assert answer.status == 303 and answer.headers["location"] == "/dashboard/functions/fn#aliases"
    [call] = [call for call in api.calls if call[0] == "PUT"]
    assert call[1] == "/2015-03-31/functions/fn/aliases/live"
    assert orjson.loads(call[3]) == {"RoutingConfig": {"AdditionalVersionWeights": {"2": 0.3}}, "RevisionId": "r1"}
    request(app, "POST", "/dashboard/functions/fn/aliases/live", {"csrf": csrf, "version": "2", "weight": "0"},
            headers=cookie)
    assert orjson.loads(api.calls[-1][3]) == {"RoutingConfig": {"AdditionalVersionWeights": {}}}
    answer = request(app, "POST", "/dashboard/functions/fn/aliases/live",
                     {"csrf": csrf, "version": "2", "weight": "101"}, headers=cookie)
    assert answer.status == 400 and "0 to 100" in answer.text
    answer = request(app, "POST", "/dashboard/functions/fn/aliases/live", {"csrf": csrf, "weight": "20"},
                     headers=cookie)
    assert answer.status == 400 and "Choose the extra version" in answer.text
    assert len([call for call in api.calls if call[0] == "PUT"]) == 2  # neither bad form reached UpdateAlias


def test_sign_out_ends_the_session_and_clears_the_cookie(app: Dashboard) -> None:
    cookie, csrf = signed_in(app)
    answer = request(app, "POST", "/dashboard/signout", {"csrf": csrf}, headers=cookie)
    assert answer.status == 303 and "Max-Age=0" in answer.cookies[0]
    assert request(app, "GET", "/dashboard/", headers=cookie).status == 303


def test_without_authentication_a_browser_gets_a_session_but_posts_still_need_the_token(api: FakeApi) -> None:
    app = Dashboard(api, None)
    answer = request(app, "GET", "/dashboard/")
    assert answer.status == 200 and answer.cookies and "HttpOnly" in answer.cookies[0]
    cookie = {"cookie": answer.cookies[0].split(";")[0]}
    assert request(app, "POST", "/dashboard/functions/fn/disable", {}, headers=cookie).status == 403


def test_static_files_come_from_the_package(app: Dashboard) -> None:
    script = request(app, "GET", "/dashboard/static/dashboard.js")
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "live-log" in script.text
    assert request(app, "GET", "/dashboard/static/../app.py").status == 404
    assert request(app, "GET", "/dashboard/static/nothing.js").status == 404


def test_an_unknown_page_is_a_404_page(app: Dashboard) -> None:
    cookie, _ = signed_in(app)
    answer = request(app, "GET", "/dashboard/nowhere", headers=cookie)
    assert answer.status == 404 and "No dashboard page" in answer.text


def test_ndjson_log_lines_become_server_sent_events() -> None:
    events = server_sent(_ndjson(ENTRY) + _ndjson({"type": "hearth.keepalive"})
                         + _ndjson({"type": "hearth.lost", "count": 2}) + b"\n")
    first, keepalive, lost, end = events.split(b"\n\n")
    assert first.startswith(b"data: ") and b"\n" not in first
    assert [line["key"] for line in orjson.loads(first[len(b"data: "):])] == ["r-1#0", "r-1#1"]
    assert orjson.loads(first[len(b"data: "):])[0]["message"] == "START <b>"  # JSON: the page sets it as text
    assert keepalive == b": keepalive" and lost == b'event: lost\ndata: {"count":2}' and end == b""


def test_the_live_log_stream_follows_the_log_store(app: Dashboard, api: FakeApi) -> None:
    cookie, _ = signed_in(app)
    answer = request(app, "GET", "/dashboard/logs/stream?function=fn&status=error&since=12.5", headers=cookie)
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/event-stream")
    [call] = [call for call in api.calls if call[1] == "/hearth/logs"]
    assert call[2] == {"function": "fn", "filter": "", "status": "error", "follow": "1", "format": "json",
                       "limit": "200", "since": "12.5"}
    assert answer.text.count("data: ") == 3 and "event: lost" in answer.text and '"r-2#0"' in answer.text
    assert api.closed  # the follow is closed once the stream ends


def test_the_live_log_page_points_at_its_stream(app: Dashboard, api: FakeApi) -> None:
    cookie, _ = signed_in(app)
    answer = request(app, "GET", "/dashboard/logs?function=fn&filter=x", headers=cookie)
    assert answer.status == 200
    assert 'data-stream="/dashboard/logs/stream?function=fn&amp;filter=x&amp;since=' in answer.text
