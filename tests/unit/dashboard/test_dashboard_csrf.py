"""CSRF checks: the browser's Sec-Fetch-Site, the Origin header and the session's token each refuse on their own."""

from __future__ import annotations

import pytest

from hearth import errors
from hearth.dashboard.csrf import check_origin, check_token


@pytest.mark.parametrize("headers", [
    {"host": "127.0.0.1:9090"},  # an older browser or a script: the token still decides
    {"host": "127.0.0.1:9090", "sec-fetch-site": "same-origin"},
    {"host": "127.0.0.1:9090", "sec-fetch-site": "none"},  # typed into the address bar
    {"host": "127.0.0.1:9090", "origin": "http://127.0.0.1:9090"},
    {"host": "Dash.Example:9090", "origin": "http://dash.example:9090", "sec-fetch-site": "same-origin"},
])
def test_same_origin_requests_pass(headers: dict[str, str]) -> None:
    check_origin(headers, "http")


@pytest.mark.parametrize("headers", [
    {"host": "127.0.0.1:9090", "sec-fetch-site": "cross-site"},
    {"host": "127.0.0.1:9090", "sec-fetch-site": "same-site"},  # another port or subdomain is another origin
    {"host": "127.0.0.1:9090", "origin": "http://evil.example"},
    {"host": "127.0.0.1:9090", "origin": "null"},  # a sandboxed frame or a data: page
    {"host": "127.0.0.1:9090", "origin": "http://127.0.0.1:9091"},
])
def test_cross_site_requests_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(errors.Forbidden) as raised:
        check_origin(headers, "http")
    assert raised.value.status == 403


def test_the_origin_must_have_the_requests_scheme() -> None:
    with pytest.raises(errors.Forbidden):
        check_origin({"host": "dash.example", "origin": "http://dash.example"}, "https")
    check_origin({"host": "dash.example", "origin": "https://dash.example"}, "https")


def test_the_token_comes_from_the_form_or_the_header() -> None:
    check_token("t0ken", {"csrf": "t0ken"}, {})
    check_token("t0ken", {}, {"x-csrf-token": "t0ken"})
    for form, headers in (({}, {}), ({"csrf": "other"}, {}), ({"csrf": ""}, {}), ({}, {"x-csrf-token": "t0ke"})):
        with pytest.raises(errors.Forbidden, match="CSRF token"):
            check_token("t0ken", form, headers)
