"""The dashboard in a real browser: Debian's chromium driven by Playwright against ``hearth serve``.

One platform and one browser for the module; each test signs in with a fresh browser context. A screenshot of every
page is kept in ``tests/artifacts/dashboard/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECTS, Serve
from runtime_tools import require_tool

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """A platform with ``echo``: versions 1 and 2, and the alias ``live`` sending 10% of calls to 2."""
    platform = Serve(tmp_path_factory.mktemp("dashboard"))
    try:
        platform.deploy(PROJECTS / "dashboard")
        assert platform.publish("echo") == "1"
        client = platform.client()
        client.update_function_configuration(FunctionName="echo", MemorySize=256)  # a new version needs a change
        assert platform.publish("echo") == "2"
        client.create_alias(FunctionName="echo", Name="live", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def sign_in(context: Any, serve: Serve) -> Any:
    page = context.new_page()
    page.goto(f"{serve.process.control}/dashboard/")
    assert page.url.endswith("/dashboard/signin")
    page.fill("input[name=access_key_id]", serve.key["access_key_id"])
    page.fill("input[name=secret]", serve.key["secret_access_key"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard/$"))
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_wrong_key_cannot_sign_in(context: Any, serve: Serve) -> None:
    page = context.new_page()
    page.goto(f"{serve.process.control}/dashboard/signin")
    shot(page, "signin")
    page.fill("input[name=access_key_id]", serve.key["access_key_id"])
    page.fill("input[name=secret]", "not-the-secret")
    with page.expect_response(re.compile(r"/dashboard/signin$")) as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    assert "do not sign in" in page.inner_text("main")
    assert context.cookies() == []
    page.goto(f"{serve.process.control}/dashboard/functions/echo")
    assert page.url.endswith("/dashboard/signin")  # still signed out


def test_sign_in_and_see_the_functions(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    [cookie] = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
    assert page.evaluate("document.cookie") == ""  # invisible to scripts
    row = page.locator("table.functions tr", has_text="echo")
    assert "python" in row.inner_text() and "active" in row.inner_text()
    shot(page, "functions")


def test_invoke_from_the_form_and_see_the_log_line(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    page.click("a.function:text-is('echo')")
    page.wait_for_url(re.compile(r"/dashboard/functions/echo$"))
    page.fill("textarea[name=payload]", '{"mark": "from-the-form"}')
    page.click("form.invoke button[type=submit]")
    result = page.locator("#invoke-result")
    result.wait_for()
    assert '"mark": "from-the-form"' in result.locator("pre.payload").inner_text()
    tail = result.locator("pre.log-tail").inner_text()
    assert "dashboard-mark from-the-form <b>not bold</b>" in tail  # markup in a log line is shown as text
    assert re.search(r"^REPORT RequestId: \S+\tDuration: [\d.]+ ms", tail, re.M), tail
    request_id = result.locator("a").inner_text()
    shot(page, "function")
    page.click(f"#recent a[href$='{request_id}']")  # the recent invocations list has it: open its log lines
    page.wait_for_url(re.compile(f"/invocations/{request_id}$"))
    log = page.inner_text("pre.log")
    assert "dashboard-mark from-the-form <b>not bold</b>" in log and f"END RequestId: {request_id}" in log
    assert page.locator("pre.log b").count() == 0
    shot(page, "invocation")


def test_the_live_log_shows_a_new_line(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    page.goto(f"{serve.process.control}/dashboard/logs?function=echo")
    serve.client().invoke(FunctionName="echo", Payload=b'{"mark": "live-follow"}')
    line = page.locator("#live-log li", has_text="dashboard-mark live-follow")
    line.wait_for()  # appended by the page's script: no reload
    assert "[echo]" in line.inner_text() and "<b>not bold</b>" in line.inner_text()
    shot(page, "logs")


def test_the_live_log_filters_by_status_and_text(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    page.goto(f"{serve.process.control}/dashboard/logs?status=error")
    client = serve.client()
    client.invoke(FunctionName="echo", Payload=b'{"mark": "fine-call"}')
    client.invoke(FunctionName="fail", Payload=b'{"mark": "bad-call"}')
    page.locator("#live-log li", has_text="failing bad-call").wait_for()
    # The successful call was stored first: had the filter let it through, it would be on the page by now.
    assert page.locator("#live-log li", has_text="fine-call").count() == 0
    assert page.locator("#live-log li", has_text="[fail]").count() >= 3  # START, its line, END, REPORT
    shot(page, "logs-errors")
    page.goto(f"{serve.process.control}/dashboard/logs?filter=fine-call")  # the backlog, filtered by text
    assert page.locator("#live-log li", has_text="dashboard-mark fine-call").count() == 1
    assert page.locator("#live-log li", has_text="bad-call").count() == 0


def test_a_function_error_shows_in_the_invoke_result_and_the_list(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    page.goto(f"{serve.process.control}/dashboard/functions/fail")
    page.fill("textarea[name=payload]", '{"mark": "form-error"}')
    page.click("form.invoke button[type=submit]")
    result = page.locator("#invoke-result")
    assert result.locator(".status").inner_text() == "Unhandled"
    assert "dashboard failure form-error <i>" in result.locator("pre.payload").inner_text()
    assert "REPORT RequestId:" in result.locator("pre.log-tail").inner_text()
    assert page.locator("#recent .status", has_text="error").count() >= 1
    page.click("nav a:text-is('Functions')")
    row = page.locator("table.functions tr", has_text="fail")
    assert re.search(r"\b[1-9]\d* / [1-9]\d* errors", row.inner_text()), row.inner_text()
    shot(page, "functions-after-calls")


def test_change_an_alias_weight_and_see_the_split_change(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    page.goto(f"{serve.process.control}/dashboard/functions/echo")
    row = page.locator("table.aliases tr", has_text="live")
    assert row.locator(".split").inner_text() == "1: 90% · 2: 10%"
    row.locator("input[type=range]").fill("40")
    assert row.locator("output.preview").inner_text() == "1: 60% · 2: 40%"  # shown while sliding
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        row.locator("button[type=submit]").click()
    assert asked == ["Change the traffic split of alias live?"]
    assert page.locator("table.aliases tr", has_text="live").locator(".split").inner_text() == "1: 60% · 2: 40%"
    alias = serve.client().get_alias(FunctionName="echo", Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.4}
    shot(page, "alias-weight")


def test_a_dismissed_confirmation_changes_nothing(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    page.goto(f"{serve.process.control}/dashboard/functions/echo")
    before = serve.client().get_alias(FunctionName="echo", Name="live")["RoutingConfig"]
    row = page.locator("table.aliases tr", has_text="live")
    row.locator("input[type=range]").fill("77")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button[type=submit]").click()
    assert serve.client().get_alias(FunctionName="echo", Name="live")["RoutingConfig"] == before


class _Attacker(http.server.BaseHTTPRequestHandler):
    """Another site's page: a form that posts to the dashboard's disable action."""

    target = ""

    def do_GET(self) -> None:
        page = (f'<form method="post" action="{self.target}"><input name="csrf" value="guessed">'
                '<button id="go" type="submit">win a prize</button></form>').encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_cross_site_post_is_refused(context: Any, serve: Serve) -> None:
    sign_in(context, serve)  # the browser holds a live session
    handler = type("Attacker", (_Attacker,), {"target": f"{serve.process.control}/dashboard/functions/echo/disable"})
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=attacker.serve_forever, daemon=True)
    thread.start()
    try:
        page = context.new_page()
        page.goto(f"http://localhost:{attacker.server_address[1]}/")  # another site: localhost, not 127.0.0.1
        with page.expect_response(re.compile(r"/dashboard/functions/echo/disable$")) as answer:
            page.click("#go")
        assert answer.value.status == 403
        assert "Refused" in page.inner_text("main")
        shot(page, "cross-site-refused")
    finally:
        attacker.shutdown()
        attacker.server_close()
        thread.join(5)
    idle = serve.native("/hearth/idle", days="3650")
    assert not [item for item in idle["functions"] if item["function"] == "echo" and item["disabled"]]


def test_pause_and_resume_a_schedule_and_see_the_other_pages(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    page.click("nav a:text-is('Schedules')")
    row = page.locator("table.schedules tr", has_text="echo")
    assert "running" in row.inner_text()
    with page.expect_navigation():
        row.locator("button:text-is('Pause')").click()
    assert "paused" in page.locator("table.schedules tr", has_text="echo").inner_text()
    assert [item["paused"] for item in serve.native("/hearth/schedules")["schedules"]] == [True]
    shot(page, "schedules")
    with page.expect_navigation():
        page.locator("table.schedules tr", has_text="echo").locator("button:text-is('Resume')").click()
    assert [item["paused"] for item in serve.native("/hearth/schedules")["schedules"]] == [False]
    page.click("nav a:text-is('Queues')")
    assert "inbox-failed" in page.locator("table.queues tr", has_text="inbox").first.inner_text()
    shot(page, "queues")
    page.click("nav a:text-is('Cost')")
    assert page.locator("h2", has_text="By function").count() == 1
    shot(page, "cost")
    page.click("nav a:text-is('Idle')")
    assert page.locator("h1").inner_text() == "Idle functions"
    shot(page, "idle")


def test_sign_out(context: Any, serve: Serve) -> None:
    page = sign_in(context, serve)
    page.click("header button:text-is('Sign out')")
    page.wait_for_url(re.compile(r"/dashboard/signin$"))
    page.goto(f"{serve.process.control}/dashboard/")
    assert page.url.endswith("/dashboard/signin")
