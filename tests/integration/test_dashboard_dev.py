"""The dashboard on ``hearth dev`` (loopback, authentication off): no sign-in, but every POST still needs the
session's CSRF token; and the dashboard is no operation of the control API's OpenAPI description."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from conftest import PROJECTS, HearthProcess


@pytest.fixture(scope="module")
def dev() -> Iterator[HearthProcess]:
    hearth = HearthProcess(PROJECTS / "dashboard", "--no-watch").start()
    yield hearth
    hearth.stop()


def test_without_authentication_a_browser_gets_a_session_and_posts_still_need_the_token(dev: HearthProcess) -> None:
    with httpx.Client(base_url=dev.control, timeout=30) as browser:
        page = browser.get("/dashboard/")
        assert page.status_code == 200
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
        assert 'href="/dashboard/functions/echo"' in page.text
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
        assert token is not None
        refused = browser.post("/dashboard/functions/echo/invoke", data={"payload": '{"mark": "no-token"}'})
        assert refused.status_code == 403
        answer = browser.post("/dashboard/functions/echo/invoke",
                              data={"csrf": token.group(1), "payload": '{"mark": "dev"}', "qualifier": "$LATEST"})
        assert answer.status_code == 200
        assert "dashboard-mark dev &lt;b&gt;not bold&lt;/b&gt;" in answer.text
        assert re.search(r"REPORT RequestId: [0-9a-f-]+\tDuration", answer.text)
    # The console prints calls in order: once the second call's line is out, the refused one would be too.
    dev.wait_for(lambda: any("dashboard-mark dev" in line for line in dev.stdout), 10, "the invoked call's line")
    assert not any("dashboard-mark no-token" in line for line in dev.stdout)


def test_the_dashboard_is_not_part_of_the_apis_description(dev: HearthProcess) -> None:
    paths = httpx.get(f"{dev.control}/hearth/openapi.json").json()["paths"]
    assert paths and not [path for path in paths if path.startswith("/dashboard")]
