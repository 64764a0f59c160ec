"""``VercelRouter``: vercel.json's redirects, rewrites, headers, cleanUrls, trailingSlash and legacy routes, in
Vercel's order. Tables of request → decision; many cases are the examples of Vercel's documentation."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from hearth.gateway.rewrites import Decision, External, Redirect, Serve, VercelRouter
from hearth.gateway.vercel_patterns import PatternError
from hearth.model import (
    FunctionSpec,
    HeadersRule,
    LegacyRoute,
    Project,
    RedirectRule,
    RewriteRule,
    RouteCondition,
    RouteSpec,
    VercelRouting,
    VercelSpec,
)

FILES = frozenset({"/index.html", "/about.html", "/style.css", "/docs/index.html", "/410.html", "/fallback.html",
                   "/blog/post"})


def decide(router: VercelRouter, path: str, query: str = "", *, method: str = "GET",
           headers: Iterable[tuple[str, str]] = (), files: frozenset[str] = FILES) -> Decision | None:
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return router.route(method, path, query, raw, files.__contains__)


def h(*pairs: tuple[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((name.encode(), value.encode()) for name, value in pairs)


# --- redirects -----------------------------------------------------------------------------------------------

REDIRECTS = VercelRouter(VercelRouting(redirects=(
    RedirectRule("/me", "/profile.html"),
    RedirectRule("/user", "/api/user", status=307),  # "permanent": false
    RedirectRule("/view-source", "https://github.com/vercel/vercel", status=301),  # "statusCode": 301
    RedirectRule("/old-blog/:slug", "/news/:slug"),
    RedirectRule("/docs/:path*", "https://docs.example.com/:path*"),
    RedirectRule("/specific/:path*", "/another/:path*", status=307,
                 has=(RouteCondition("query", "page", "home"),)),
    RedirectRule("/beta", "/waitlist", status=307, missing=(RouteCondition("cookie", "invited"),)),
    RedirectRule("/:path((?!uk/).*)", "/uk/:path", status=307,
                 has=(RouteCondition("header", "x-vercel-ip-country", "GB"),)),
    RedirectRule("/post/:id(\\d+)", "/articles/:id?from=post"),
)))


@pytest.mark.parametrize(("path", "query", "headers", "expected"), [
    ("/me", "", (), Redirect(308, "/profile.html")),  # permanent by default
    ("/user", "", (), Redirect(307, "/api/user")),
    ("/view-source", "", (), Redirect(301, "https://github.com/vercel/vercel")),
    ("/old-blog/hello", "", (), Redirect(308, "/news/hello")),
    ("/old-blog/hello", "ref=tw&x=1", (), Redirect(308, "/news/hello?ref=tw&x=1")),  # the query is kept
    ("/old-blog/a b", "", (), Redirect(308, "/news/a%20b")),  # what goes into Location is encoded
    ("/old-blog/a/b", "", (), None),  # :slug is one segment
    ("/docs/guides/start", "q=1", (), Redirect(308, "https://docs.example.com/guides/start?q=1")),
    ("/docs", "", (), Redirect(308, "https://docs.example.com/")),
    ("/specific/mypath", "page=home&id=1000", (), Redirect(307, "/another/mypath?page=home&id=1000")),
    ("/specific/mypath", "page=about", (), None),  # the value must match as a whole
    ("/specific/mypath", "", (), None),
    ("/beta", "", (), Redirect(307, "/waitlist")),
    ("/beta", "", (("cookie", "theme=dark; invited=1"),), None),
    ("/pricing", "", (("x-vercel-ip-country", "GB"),), Redirect(307, "/uk/pricing")),
    ("/uk/pricing", "", (("x-vercel-ip-country", "GB"),), None),
    ("/pricing", "", (("x-vercel-ip-country", "FR"),), None),
    ("/post/12", "from=home", (), Redirect(308, "/articles/12?from=post")),  # the destination's key wins
    ("/post/abc", "", (), None),
])
def test_redirects(path: str, query: str, headers: tuple[tuple[str, str], ...], expected: Decision | None) -> None:
    assert decide(REDIRECTS, path, query, headers=headers) == expected


def test_redirect_query_example_from_vercel() -> None:
    router = VercelRouter(VercelRouting(redirects=(RedirectRule("/", "/lol/?path=foo"),)))
    assert decide(router, "/", "baz=10") == Redirect(308, "/lol/?path=foo&baz=10")


# --- rewrites ------------------------------------------------------------------------------------------------

REWRITES = VercelRouter(VercelRouting(rewrites=(
    RewriteRule("/resize/:width/:height", "/api/sharp"),
    RewriteRule("/users/:id", "/api/user?id=:id"),
    RewriteRule("/blog/:slug", "/blog/post?slug=:slug"),
    RewriteRule("/docs/:path*", "/docs-v2/:path*"),
    RewriteRule("/docs-v2/(.*)", "/fallback.html"),
    RewriteRule("/gone", "/410.html", status=410),
    RewriteRule("/proxy/:path*", "https://api.example.com/:path*"),
    RewriteRule("/dashboard", "/dashboard/:authorized",
                has=(RouteCondition("header", "x-authorized", "(?<authorized>yes|true)"),)),
    RewriteRule("/site/:path*", "/sites/:sub/:path*",
                has=(RouteCondition("host", "", "(?<sub>[^.]+)\\.example\\.com"),)),
    RewriteRule("/lang", "/i18n/:locale", has=(RouteCondition("cookie", "locale"),)),
    RewriteRule("/search", "/api/search?term=:q", has=(RouteCondition("query", "q"),)),
    RewriteRule("/legacy/(.*)", "/$1"),
    RewriteRule("/u/:id", "/api/users/:id"),
    RewriteRule("/(.*)", "/index.html"),
)), function_paths=["/api/sharp", "/api/user", "/api/search"])


@pytest.mark.parametrize(("path", "query", "headers", "expected"), [
    # a destination that uses no parameter gets them all in its query, in the source's order
    ("/resize/100/200", "", (), Serve("/api/sharp", "width=100&height=200", rewritten=True)),
    ("/resize/100/200", "fit=cover", (), Serve("/api/sharp", "width=100&height=200&fit=cover", rewritten=True)),
    ("/users/5", "", (), Serve("/api/user", "id=5", rewritten=True)),
    ("/users/5", "id=9&x=1", (), Serve("/api/user", "id=5&x=1", rewritten=True)),  # the destination's id wins
    ("/blog/hello", "", (), Serve("/blog/post", "slug=hello", rewritten=True)),
    # a rewrite whose destination does not exist goes on: the next rewrite sees the rewritten path
    ("/docs/a/b", "", (), Serve("/fallback.html", "", rewritten=True)),
    ("/gone", "", (), Serve("/410.html", "", status=410, rewritten=True)),
    ("/proxy/v1/items", "page=2", (), External("https://api.example.com/v1/items?page=2")),
    ("/dashboard", "", (("x-authorized", "yes"),), Serve("/index.html", "", rewritten=True)),  # /dashboard/yes: none
    ("/site/a/b", "", (("host", "blog.example.com:8080"),), Serve("/index.html", "", rewritten=True)),
    ("/search", "q=shoes", (), Serve("/api/search", "term=shoes&q=shoes", rewritten=True)),
    ("/legacy/style.css", "", (), Serve("/style.css", "", rewritten=True)),
    # the filesystem comes before every rewrite: an existing file or function is served as is
    ("/style.css", "", (), None),
    ("/api/user", "id=1", (), None),
    ("/anything", "", (), Serve("/index.html", "", rewritten=True)),
    # functions with [params] are matched after the rewrites, so a catch-all rewrite shadows them, as on Vercel
    ("/u/7", "", (), Serve("/index.html", "", rewritten=True)),
])
def test_rewrites(path: str, query: str, headers: tuple[tuple[str, str], ...], expected: Decision | None) -> None:
    assert decide(REWRITES, path, query, headers=headers) == expected


def test_has_captures_become_destination_params() -> None:
    router = VercelRouter(VercelRouting(rewrites=(
        RewriteRule("/dashboard", "/dash/:authorized",
                    has=(RouteCondition("header", "x-authorized", "(?<authorized>yes|true)"),)),
        RewriteRule("/site/:path*", "/sites/:sub/:path*",
                    has=(RouteCondition("host", "", "(?<sub>[^.]+)\\.example\\.com"),)),
        RewriteRule("/lang", "/i18n/:locale", has=(RouteCondition("cookie", "locale"),)),
        RewriteRule("/who", "/hello/:host", has=(RouteCondition("host", "", ".*"),)),
    )))
    files = frozenset({"/dash/yes", "/sites/blog/a/b", "/i18n/fr", "/hello/example.org"})
    assert decide(router, "/dashboard", headers=[("X-Authorized", "yes")], files=files) == \
        Serve("/dash/yes", "", rewritten=True)
    assert decide(router, "/dashboard", headers=[("x-authorized", "maybe")], files=files) is None
    assert decide(router, "/site/a/b", headers=[("host", "blog.example.com:3000")], files=files) == \
        Serve("/sites/blog/a/b", "", rewritten=True)
    assert decide(router, "/lang", headers=[("cookie", 'a=1; locale="fr"')], files=files) == \
        Serve("/i18n/fr", "", rewritten=True)
    assert decide(router, "/who", headers=[("host", "example.org")], files=files) == \
        Serve("/hello/example.org", "", rewritten=True)


def test_missing_conditions_with_and_without_values() -> None:
    router = VercelRouter(VercelRouting(rewrites=(
        RewriteRule("/app", "/login.html", missing=(RouteCondition("cookie", "session"),)),
        RewriteRule("/app", "/old.html", missing=(RouteCondition("header", "user-agent", ".*Chrome.*"),)),
    )))
    files = frozenset({"/login.html", "/old.html"})
    assert decide(router, "/app", files=files) == Serve("/login.html", "", rewritten=True)
    assert decide(router, "/app", headers=[("cookie", "session=1"), ("user-agent", "Firefox")], files=files) == \
        Serve("/old.html", "", rewritten=True)
    assert decide(router, "/app", headers=[("cookie", "session=1"), ("user-agent", "x Chrome y")],
                  files=files) is None


# --- headers -------------------------------------------------------------------------------------------------

HEADERS = VercelRouter(VercelRouting(
    redirects=(RedirectRule("/old", "/new"),),
    headers=(
        HeadersRule("/(.*)", (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"))),
        HeadersRule("/assets/(.*)", (("Cache-Control", "public, max-age=31536000, immutable"),)),
        HeadersRule("/assets/fonts/(.*)", (("Cache-Control", "public, max-age=60"),)),  # later wins
        HeadersRule("/users/:id", (("X-User", "user-:id"),)),
        HeadersRule("/(.*)", (("X-Beta", "1"),), has=(RouteCondition("cookie", "beta", "yes"),)),
        HeadersRule("/old", (("X-Never", "1"),)),
    ),
))


@pytest.mark.parametrize(("path", "headers", "expected"), [
    ("/", (), Serve("/", "", h(("x-content-type-options", "nosniff"), ("x-frame-options", "DENY")))),
    ("/assets/app.js", (), Serve("/assets/app.js", "", h(
        ("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"),
        ("cache-control", "public, max-age=31536000, immutable")))),
    ("/assets/fonts/a.woff2", (), Serve("/assets/fonts/a.woff2", "", h(
        ("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("cache-control", "public, max-age=60")))),
    ("/users/42", (), Serve("/users/42", "", h(
        ("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("x-user", "user-42")))),
    ("/users/é", (), Serve("/users/é", "", h(
        ("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("x-user", "user-%C3%A9")))),
    ("/x", (("cookie", "beta=yes"),), Serve("/x", "", h(
        ("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("x-beta", "1")))),
    ("/old", (), Redirect(308, "/new")),  # redirects come first; header rules do not reach them
])
def test_headers(path: str, headers: tuple[tuple[str, str], ...], expected: Decision) -> None:
    assert decide(HEADERS, path, headers=headers) == expected


# --- cleanUrls and trailingSlash -----------------------------------------------------------------------------

CLEAN = VercelRouter(VercelRouting(clean_urls=True), function_paths=["/api/user"])
CLEAN_SLASH = VercelRouter(VercelRouting(clean_urls=True, trailing_slash=True))


@pytest.mark.parametrize(("router", "path", "query", "expected"), [
    (CLEAN, "/about.html", "", Redirect(308, "/about")),
    (CLEAN, "/about.html", "x=1", Redirect(308, "/about?x=1")),
    (CLEAN, "/about.html/", "", Redirect(308, "/about")),
    (CLEAN, "/index.html", "", Redirect(308, "/")),
    (CLEAN, "/index", "", Redirect(308, "/")),
    (CLEAN, "/docs/index.html", "", Redirect(308, "/docs")),
    (CLEAN, "/docs/index", "", Redirect(308, "/docs")),
    (CLEAN, "/api/user.py", "", Redirect(308, "/api/user")),  # functions lose their extension too
    (CLEAN, "/api/index.py", "", Redirect(308, "/api")),
    (CLEAN, "/about", "", None),  # served by the static files (about.html): StaticFiles(clean_urls=True)
    (CLEAN_SLASH, "/about.html", "", Redirect(308, "/about/")),
    (CLEAN_SLASH, "/docs/index.html", "", Redirect(308, "/docs/")),
])
def test_clean_urls(router: VercelRouter, path: str, query: str, expected: Decision | None) -> None:
    assert decide(router, path, query) == expected


ADD_SLASH = VercelRouter(VercelRouting(trailing_slash=True))
NO_SLASH = VercelRouter(VercelRouting(trailing_slash=False))


@pytest.mark.parametrize(("router", "path", "query", "expected"), [
    (NO_SLASH, "/about/", "", Redirect(308, "/about")),
    (NO_SLASH, "/a/b/", "q=1", Redirect(308, "/a/b?q=1")),
    (NO_SLASH, "/", "", None),
    (NO_SLASH, "/about", "", None),
    (ADD_SLASH, "/about", "", Redirect(308, "/about/")),
    (ADD_SLASH, "/a/b", "", Redirect(308, "/a/b/")),
    (ADD_SLASH, "/about/", "", None),
    (ADD_SLASH, "/style.css", "", None),  # a file name keeps no slash
    (ADD_SLASH, "/style.css/", "", Redirect(308, "/style.css")),
    (ADD_SLASH, "/.well-known/security.txt", "", None),
    (ADD_SLASH, "/.well-known/thing", "", None),
    (ADD_SLASH, "/", "", None),
])
def test_trailing_slash(router: VercelRouter, path: str, query: str, expected: Decision | None) -> None:
    assert decide(router, path, query) == expected


# --- legacy routes -------------------------------------------------------------------------------------------

LEGACY = VercelRouter(VercelRouting(routes=(
    LegacyRoute(src="/(.*)", headers=(("X-Powered-By", "hearth"),), continue_=True),
    LegacyRoute(src="/old", status=301, headers=(("Location", "/new"),)),
    LegacyRoute(src="/moved/(.*)", dest="/now/$1", status=302),
    LegacyRoute(src="/secret", status=403),
    LegacyRoute(src="/blog/(?<slug>[^/]+)", dest="/blog/post?slug=$slug"),
    LegacyRoute(src="/p/(\\d+)", dest="/blog/post?id=$1"),
    LegacyRoute(src="/submit", methods=frozenset({"POST"}), dest="/api/form"),
    LegacyRoute(src="/Case", dest="/style.css", case_sensitive=True),
    LegacyRoute(src="/ext/(.*)", dest="https://ext.example.com/$1"),
    LegacyRoute(src="/maybe", dest="/missing.html", check=True),
    LegacyRoute(handle="filesystem"),
    LegacyRoute(src="/api/(.*)", dest="/api/$1", has=(RouteCondition("header", "x-api-key"),)),
    LegacyRoute(src="/(.*)", dest="/api/main.py"),
)), function_paths=["/api/main", "/api/form"])


@pytest.mark.parametrize(("path", "query", "method", "headers", "expected"), [
    ("/style.css", "", "GET", (), Serve("/style.css", "", h(("x-powered-by", "hearth")))),
    ("/old", "", "GET", (), Redirect(301, "/new", h(("x-powered-by", "hearth")))),
    ("/moved/a", "", "GET", (), Redirect(302, "/now/a", h(("x-powered-by", "hearth")))),
    ("/secret", "", "GET", (), Serve("/secret", "", h(("x-powered-by", "hearth")), status=403)),
    ("/blog/hi", "", "GET", (), Serve("/blog/post", "slug=hi", h(("x-powered-by", "hearth")), rewritten=True)),
    ("/p/7", "x=1", "GET", (), Serve("/blog/post", "id=7&x=1", h(("x-powered-by", "hearth")), rewritten=True)),
    ("/submit", "", "POST", (), Serve("/api/form", "", h(("x-powered-by", "hearth")), rewritten=True)),
    # GET /submit: that route is for POST; the filesystem has nothing, so the catch-all after it sends it to main.py
    ("/submit", "", "GET", (), Serve("/api/main", "", h(("x-powered-by", "hearth")), rewritten=True)),
    ("/Case", "", "GET", (), Serve("/style.css", "", h(("x-powered-by", "hearth")), rewritten=True)),
    ("/case", "", "GET", (), Serve("/api/main", "", h(("x-powered-by", "hearth")), rewritten=True)),
    ("/ext/a", "q=1", "GET", (), External("https://ext.example.com/a?q=1", h(("x-powered-by", "hearth")))),
    ("/maybe", "", "GET", (), Serve("/api/main", "", h(("x-powered-by", "hearth")), rewritten=True)),
    # one route sending everything to api/main.py: the .py names the function
    ("/anything/at/all", "", "GET", (), Serve("/api/main", "", h(("x-powered-by", "hearth")), rewritten=True)),
    ("/api/form", "", "GET", (), Serve("/api/form", "", h(("x-powered-by", "hearth")))),  # the filesystem
])
def test_legacy_routes(path: str, query: str, method: str, headers: tuple[tuple[str, str], ...],
                       expected: Decision) -> None:
    assert decide(LEGACY, path, query, method=method, headers=headers) == expected


def test_legacy_route_without_filesystem_handle_ends_on_the_first_match() -> None:
    router = VercelRouter(VercelRouting(routes=(LegacyRoute(src="/(.*)", dest="/api/main.py"),)),
                          function_paths=["/api/main"])
    assert decide(router, "/") == Serve("/api/main", "", rewritten=True)
    assert decide(router, "/style.css") == Serve("/api/main", "", rewritten=True)  # routes come first


# --- functions' own paths ------------------------------------------------------------------------------------


def vercel_project(tmp_path: Path, routing: VercelRouting = VercelRouting()) -> VercelSpec:
    files = {"api/user.py": "/api/user", "api/index.py": "/api", "api/users/[id].py": "/api/users/{id}",
             "api/teams/index.py": "/api/teams"}
    functions = {f"f{i}": FunctionSpec(name=f"f{i}", handler=handler, code_dir=tmp_path)
                 for i, handler in enumerate(files)}
    routes = tuple(RouteSpec(path=path, function=f"f{i}") for i, path in enumerate(files.values()))
    project = Project(root=tmp_path, functions=functions, routes=routes, manifest=tmp_path / "vercel.json",
                      layout="vercel", routing=routing)
    assert project.site.vercel is not None
    return project.site.vercel


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/user", None),
    ("/api/user/", None),
    ("/api/user.py", Serve("/api/user", "", rewritten=True)),  # Vercel serves a function with its extension too
    ("/api/index.py", Serve("/api", "", rewritten=True)),
    ("/api/index", Serve("/api", "", rewritten=True)),
    ("/api/teams/index", Serve("/api/teams", "", rewritten=True)),
    ("/api/users/5.py", Serve("/api/users/5", "", rewritten=True)),  # then the route table's [id]
    ("/api/users/5", None),
    ("/about.py", None),  # only under /api
])
def test_function_paths_with_extension_or_index(tmp_path: Path, path: str, expected: Decision | None) -> None:
    router = VercelRouter.build(vercel_project(tmp_path))
    assert decide(router, path) == expected


def test_a_rewrite_to_a_function_with_its_extension_is_served(tmp_path: Path) -> None:
    router = VercelRouter.build(vercel_project(tmp_path, VercelRouting(rewrites=(
        RewriteRule("/me", "/api/user.py"), RewriteRule("/(.*)", "/index.html")))))
    assert decide(router, "/me") == Serve("/api/user", "", rewritten=True)


def test_bad_patterns_fail_when_compiled() -> None:
    with pytest.raises(PatternError):
        VercelRouter(VercelRouting(rewrites=(RewriteRule("/blog/*", "/x"),)))
    with pytest.raises(PatternError):
        VercelRouter(VercelRouting(routes=(LegacyRoute(src="/(x"),)))


def test_a_path_with_a_newline_matches_nothing() -> None:
    assert decide(NO_SLASH, "/a\n/") is None


def test_rewritten_paths_are_decoded_once() -> None:
    router = VercelRouter(VercelRouting(rewrites=(RewriteRule("/f/:name", "/files%20dir/:name"),)))
    # the request's %2541 arrives decoded as %41 and must stay so; the destination's own %20 is decoded
    assert decide(router, "/f/a%41") == Serve("/files dir/a%41", "", rewritten=True)
