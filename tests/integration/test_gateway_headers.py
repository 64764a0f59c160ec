"""The gateway's header rules and CORS on the real platform: ``hearth dev`` answers preflights itself, sets rule
headers and CORS on functions' responses and on its own errors; ``hearth serve`` keeps them across a restart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import PROJECTS, HearthProcess, Serve

SITE = "https://app.example.com"
PREFLIGHT = {"Origin": SITE, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}


@pytest.fixture(scope="module")
def dev() -> Iterator[HearthProcess]:
    hearth = HearthProcess(PROJECTS / "headers", "--no-watch").start()
    yield hearth
    hearth.stop()


@pytest.fixture
def client(dev: HearthProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.gateway, timeout=30) as opened:
        yield opened


def test_a_preflight_is_answered_by_the_gateway_without_invoking_the_function(
        dev: HearthProcess, client: httpx.Client) -> None:
    # /untouched routes OPTIONS to a function, and no other test calls it: no instance may ever start.
    response = client.options("/untouched", headers=PREFLIGHT)
    assert response.status_code == 204 and response.content == b""
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    assert response.headers["access-control-allow-headers"] == "content-type, authorization"
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["vary"] == "Origin"
    assert response.headers["x-amzn-requestid"]
    # a path no route matches is answered too, as API Gateway does
    assert client.options("/nowhere", headers=PREFLIGHT).status_code == 204
    refused = client.options("/untouched", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert refused.status_code == 204
    assert not [name for name in refused.headers if name.startswith("access-control-")]
    assert dev.instances("untouched") == []
    # an OPTIONS that is not a preflight still reaches the function
    assert client.options("/untouched").status_code == 200
    assert len(dev.instances("untouched")) == 1


def test_cache_control_is_set_on_js_paths_only(client: httpx.Client) -> None:
    script = client.get("/site/assets/app.js")
    assert script.status_code == 200 and script.text == "/site/assets/app.js"
    assert script.headers.get_list("cache-control") == ["public, max-age=2592000, immutable"]
    assert script.headers["x-frame-options"] == "DENY"
    style = client.get("/site/assets/app.css")
    assert style.headers["cache-control"] == "no-store"  # the function's own
    assert style.headers["x-frame-options"] == "DENY"


def test_cors_headers_replace_the_functions_own(client: httpx.Client) -> None:
    allowed = client.get("/site/data", headers={"Origin": SITE})
    assert allowed.headers.get_list("access-control-allow-origin") == [SITE]
    assert allowed.headers["access-control-expose-headers"] == "x-request-id"
    assert allowed.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in allowed.headers
    refused = client.get("/site/data", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 200
    assert not [name for name in refused.headers if name.startswith("access-control-")]
    plain = client.get("/site/data")
    assert not [name for name in plain.headers if name.startswith("access-control-")]


def test_gateway_errors_carry_cors_and_rule_headers(client: httpx.Client) -> None:
    missing = client.get("/missing/app.js", headers={"Origin": SITE})
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    assert missing.headers["access-control-allow-origin"] == SITE
    assert missing.headers["cache-control"] == "public, max-age=2592000, immutable"
    assert missing.headers["content-type"] == "application/json"


def test_serve_keeps_header_rules_and_cors_across_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Serve(data_dir)
    try:
        output = first.deploy(PROJECTS / "headers")
        assert re.search(r"created\s+cors origins https://app.example.com", output), output
        assert re.search(r"created\s+headers \*\.js cache-control", output), output
        assert first.gateway.options("/site/x", headers=PREFLIGHT).headers["access-control-allow-origin"] == SITE
        again = first.deploy(PROJECTS / "headers")
        assert re.search(r"unchanged\s+cors", again), again
    finally:
        first.stop()
    second = Serve(data_dir)
    try:
        response = second.gateway.get("/site/app.js", headers={"Origin": SITE})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == SITE
        assert response.headers["cache-control"] == "public, max-age=2592000, immutable"
        assert second.instances("untouched") == []
        assert second.gateway.options("/untouched", headers=PREFLIGHT).status_code == 204
        assert second.instances("untouched") == []
    finally:
        second.stop()
