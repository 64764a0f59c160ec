"""The gateway's response policy: source patterns, header rules overriding the response, CORS as API Gateway does it."""

from __future__ import annotations

import pytest

from hearth.gateway.policy import ResponsePolicy, compile_source
from hearth.model import CorsSpec, ResponseHeaders

SITE = b"https://app.example.com"
OTHER = b"https://evil.example"


def rule(source: str, **headers: str) -> ResponseHeaders:
    return ResponseHeaders(source, {name.replace("_", "-"): value for name, value in headers.items()})


def policy(*rules: ResponseHeaders, cors: CorsSpec | None = None) -> ResponsePolicy:
    built = ResponsePolicy.build(rules, cors)
    assert built is not None
    return built


def as_dict(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        assert name not in found, f"{name!r} sent twice"
        found[name] = value
    return found


# -- source patterns -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "path", "matched"), [
    ("/assets/*.js", "/assets/app.js", True),
    ("/assets/*.js", "/assets/.js", True),
    ("/assets/*.js", "/assets/sub/app.js", False),
    ("/assets/*.js", "/assets/app.jsx", False),
    ("/assets/*.js", "/assetsXapp.js", False),
    ("/assets/**", "/assets", True),
    ("/assets/**", "/assets/", True),
    ("/assets/**", "/assets/a/b/c.css", True),
    ("/assets/**", "/assetsy", False),
    ("/**/*.map", "/a.map", True),
    ("/**/*.map", "/x/y/a.map", True),
    ("/**/*.map", "/x/y/a.mapx", False),
    ("*.js", "/app.js", True),
    ("*.js", "/deep/er/app.js", True),
    ("*.js", "/app.js/index.html", False),
    ("/a/**/z", "/a/z", True),
    ("/a/**/z", "/a/b/c/z", True),
    ("/a/**/z", "/a/b/c/zz", False),
    ("/users/{id}", "/users/42", True),
    ("/users/{id}", "/users/42/posts", False),
    ("/static/{file+}", "/static/a/b.png", True),
    ("/static/{file+}", "/static", False),
    ("/exact", "/exact", True),
    ("/exact", "/exact/", True),
    ("/exact", "/exactly", False),
    ("/a.b", "/aXb", False),  # a dot is a dot, not a regex wildcard
    ("/my file.pdf", "/my file.pdf", True),
    ("/**", "/", True),
    ("/", "/", True),
    ("/", "/x", False),
])
def test_source_patterns(source: str, path: str, matched: bool) -> None:
    found = policy(rule(source, x_hit="1")).finish(path, [], [])
    assert (found == [(b"x-hit", b"1")]) is matched


@pytest.mark.parametrize(("source", "problem"), [
    ("", "path pattern"),
    (" /a", "no surrounding spaces"),
    ("/a?b=1", "query"),
    ("/a//b", "empty segment"),
    ("/a**", "whole segments"),
    ("/{a}b", "fills a whole segment"),
    ("/{a+}/b", "must be the last"),
])
def test_bad_sources_say_what_is_wrong(source: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        compile_source(source)


# -- header rules ----------------------------------------------------------------------------------------------


def test_nothing_configured_is_no_policy() -> None:
    assert ResponsePolicy.build((), None) is None


def test_a_rule_replaces_every_value_of_the_headers_it_names_and_keeps_the_rest() -> None:
    found = policy(rule("*.js", cache_control="public, max-age=60")).finish(
        "/a.js", [], [(b"cache-control", b"no-store"), (b"content-type", b"text/javascript"),
                      (b"cache-control", b"private")])
    assert found == [(b"content-type", b"text/javascript"), (b"cache-control", b"public, max-age=60")]


def test_a_later_rule_wins_for_the_same_header() -> None:
    rules = (rule("/**", cache_control="no-cache", x_frame_options="DENY"),
             rule("*.js", cache_control="immutable"))
    assert as_dict(policy(*rules).finish("/a.js", [], [])) == {b"cache-control": b"immutable",
                                                               b"x-frame-options": b"DENY"}
    assert as_dict(policy(*rules[::-1]).finish("/a.js", [], [])) == {b"cache-control": b"no-cache",
                                                                     b"x-frame-options": b"DENY"}


def test_a_path_no_rule_matches_keeps_its_headers_untouched() -> None:
    headers = [(b"cache-control", b"no-store")]
    assert policy(rule("*.js", cache_control="x")).finish("/api/data", [], headers) == headers


def test_matches_are_remembered_per_path_and_the_memory_is_bounded() -> None:
    built = policy(rule("/{id}", x="1"))
    for number in range(3000):
        assert built.finish(f"/{number}", [], []) == [(b"x", b"1")]
    assert len(built._matched) <= 1024


# -- CORS: actual requests -------------------------------------------------------------------------------------

LISTED = CorsSpec(allow_origins=("https://app.example.com", "https://admin.example.com"),
                  allow_methods=("GET", "POST"), allow_headers=("content-type", "authorization"),
                  expose_headers=("x-request-id",), max_age=600)


def test_an_allowed_origin_gets_itself_back_with_expose_headers_and_vary() -> None:
    found = as_dict(policy(cors=LISTED).finish("/x", [(b"origin", SITE)], [(b"content-type", b"text/plain")]))
    assert found == {b"content-type": b"text/plain", b"access-control-allow-origin": SITE,
                     b"access-control-expose-headers": b"x-request-id", b"vary": b"Origin"}


def test_origins_compare_without_case_and_the_request_spelling_is_echoed() -> None:
    found = as_dict(policy(cors=LISTED).finish("/x", [(b"origin", b"HTTPS://App.Example.com")], []))
    assert found[b"access-control-allow-origin"] == b"HTTPS://App.Example.com"


def test_a_disallowed_origin_gets_no_cors_headers() -> None:
    found = as_dict(policy(cors=LISTED).finish("/x", [(b"origin", OTHER)], []))
    assert found == {b"vary": b"Origin"}


def test_a_request_without_origin_gets_no_cors_headers_but_vary() -> None:
    assert as_dict(policy(cors=LISTED).finish("/x", [], [])) == {b"vary": b"Origin"}


def test_the_backends_cors_headers_are_replaced() -> None:
    backend = [(b"access-control-allow-origin", b"*"), (b"access-control-allow-credentials", b"true"),
               (b"access-control-expose-headers", b"x-secret"), (b"x-own", b"1")]
    assert as_dict(policy(cors=LISTED).finish("/x", [(b"origin", SITE)], list(backend))) == {
        b"x-own": b"1", b"access-control-allow-origin": SITE, b"access-control-expose-headers": b"x-request-id",
        b"vary": b"Origin"}
    assert as_dict(policy(cors=LISTED).finish("/x", [(b"origin", OTHER)], list(backend))) == {
        b"x-own": b"1", b"vary": b"Origin"}


def test_a_wildcard_without_credentials_answers_star() -> None:
    found = as_dict(policy(cors=CorsSpec(allow_origins=("*",))).finish("/x", [(b"origin", OTHER)], []))
    assert found == {b"access-control-allow-origin": b"*", b"vary": b"Origin"}


def test_credentials_echo_the_origin_and_say_so() -> None:
    spec = CorsSpec(allow_origins=("https://app.example.com",), allow_credentials=True)
    found = as_dict(policy(cors=spec).finish("/x", [(b"origin", SITE)], []))
    assert found == {b"access-control-allow-origin": SITE, b"access-control-allow-credentials": b"true",
                     b"vary": b"Origin"}


@pytest.mark.parametrize(("vary", "expected"), [
    ([b"Accept-Encoding"], b"Accept-Encoding, Origin"),
    ([b"accept-encoding, origin"], b"accept-encoding, origin"),
    ([b"*"], b"*"),
    ([b"Accept", b"Cookie"], b"Accept, Cookie, Origin"),
])
def test_vary_keeps_the_responses_own_values(vary: list[bytes], expected: bytes) -> None:
    found = policy(cors=LISTED).finish("/x", [], [(b"vary", value) for value in vary])
    assert found == [(b"vary", expected)]


def test_rules_and_cors_together_on_one_response() -> None:
    found = as_dict(policy(rule("*.js", cache_control="immutable"), cors=LISTED).finish(
        "/a.js", [(b"origin", SITE)], [(b"cache-control", b"no-store")]))
    assert found[b"cache-control"] == b"immutable" and found[b"access-control-allow-origin"] == SITE


# -- CORS: preflights ------------------------------------------------------------------------------------------


def preflight_of(built: ResponsePolicy, origin: bytes = SITE, method: bytes = b"POST",
                 requested: bytes | None = b"content-type, x-custom",
                 path: str = "/x") -> tuple[int, dict[bytes, bytes]]:
    headers = [(b"origin", origin), (b"access-control-request-method", method)]
    if requested is not None:
        headers.append((b"access-control-request-headers", requested))
    answer = built.preflight("OPTIONS", path, headers)
    assert answer is not None
    return answer[0], as_dict(answer[1])


def test_a_preflight_from_an_allowed_origin_gets_the_configuration() -> None:
    assert preflight_of(policy(cors=LISTED)) == (204, {
        b"access-control-allow-origin": SITE, b"access-control-allow-methods": b"GET, POST",
        b"access-control-allow-headers": b"content-type, authorization", b"access-control-max-age": b"600",
        b"vary": b"Origin"})


def test_a_preflight_from_a_disallowed_origin_gets_no_allow_headers() -> None:
    assert preflight_of(policy(cors=LISTED), origin=OTHER) == (204, {b"vary": b"Origin"})


def test_wildcards_without_credentials_are_sent_as_they_are() -> None:
    spec = CorsSpec(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    assert preflight_of(policy(cors=spec))[1] == {
        b"access-control-allow-origin": b"*", b"access-control-allow-methods": b"*",
        b"access-control-allow-headers": b"*", b"vary": b"Origin"}


def test_wildcards_with_credentials_echo_the_request() -> None:
    # Browsers read "*" literally in credentialed requests, so the gateway names what was asked for.
    spec = CorsSpec(allow_origins=("https://app.example.com",), allow_methods=("*",), allow_headers=("*",),
                    allow_credentials=True)
    assert preflight_of(policy(cors=spec), method=b"DELETE")[1] == {
        b"access-control-allow-origin": SITE, b"access-control-allow-credentials": b"true",
        b"access-control-allow-methods": b"DELETE", b"access-control-allow-headers": b"content-type, x-custom",
        b"vary": b"Origin"}


def test_a_bare_configuration_sends_only_the_origin() -> None:
    spec = CorsSpec(allow_origins=("https://app.example.com",))
    assert preflight_of(policy(cors=spec), requested=None)[1] == {b"access-control-allow-origin": SITE,
                                                                  b"vary": b"Origin"}


@pytest.mark.parametrize(("method", "headers"), [
    ("GET", [(b"origin", SITE), (b"access-control-request-method", b"POST")]),
    ("OPTIONS", [(b"origin", SITE)]),
    ("OPTIONS", [(b"access-control-request-method", b"POST")]),
])
def test_only_a_real_preflight_is_answered(method: str, headers: list[tuple[bytes, bytes]]) -> None:
    assert policy(cors=LISTED).preflight(method, "/x", headers) is None


def test_without_cors_no_preflight_is_answered() -> None:
    headers = [(b"origin", SITE), (b"access-control-request-method", b"POST")]
    assert policy(rule("/**", x="1")).preflight("OPTIONS", "/x", headers) is None


def test_header_rules_apply_to_preflight_answers_too() -> None:
    status, headers = preflight_of(policy(rule("/api/**", x_frame_options="DENY"), cors=LISTED), path="/api/a")
    assert status == 204 and headers[b"x-frame-options"] == b"DENY"
