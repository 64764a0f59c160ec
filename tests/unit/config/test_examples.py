"""The example projects load as documented, and the routing engine and static files answer them as Vercel would."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest

from hearth.config.include import included
from hearth.config.manifest import load_project
from hearth.config.package import build_package
from hearth.gateway.rewrites import Decision, Redirect, Serve, VercelRouter
from hearth.gateway.routes import RouteTable
from hearth.gateway.static import StaticFiles

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def answer(name: str, path: str, query: str = "", headers: tuple[tuple[str, str], ...] = ()) -> \
        tuple[Decision | None, str | None]:
    """The router's decision and who serves the final path: "static:<file>", "fn:<function>" or None."""
    project = load_project(EXAMPLES / name)
    spec = project.site.vercel
    assert spec is not None
    router = VercelRouter.build(spec)
    files = StaticFiles.for_site(spec)
    assert files is not None
    raw = [(key.encode(), value.encode()) for key, value in headers]
    decision = router.route("GET", path, query, raw, files.exists)
    final = decision.path if isinstance(decision, Serve) else path
    if isinstance(decision, Redirect):
        return decision, None
    found = files.lookup(final)
    if found is not None:
        return decision, "static:" + found.path.relative_to(files.root).as_posix()
    match = RouteTable(project.routes).match("GET", final)
    return decision, None if match is None else "fn:" + match.route.function


def test_vercel_routing_loads_without_warnings(caplog: pytest.LogCaptureFixture) -> None:
    project = load_project(EXAMPLES / "vercel-routing")
    assert not caplog.records
    assert project.layout == "vercel" and project.static_dir == EXAMPLES / "vercel-routing" / "public"
    assert [(route.path, route.function) for route in project.routes] == [
        ("/api", "api-index"),
        ("/api/hello", "api-hello"),
        ("/api/users/{id}", "api-users-_id"),
        ("/api/docs/{slug+}", "api-docs-__slug"),
    ]
    assert {name: (spec.handler, spec.memory_mb, spec.timeout_s) for name, spec in project.functions.items()} == {
        "api-docs-__slug": ("api/docs/[...slug].py", 1024, 30),
        "api-hello": ("api/hello.py", 256, 10),
        "api-index": ("api/index.py", 256, 10),
        "api-users-_id": ("api/users/[id].py", 1024, 10),
    }
    rules = project.routing
    assert (len(rules.redirects), len(rules.rewrites), len(rules.headers)) == (4, 5, 4)
    assert rules.clean_urls and rules.trailing_slash is False and len(project.schedules) == 1


NOSNIFF = (b"x-content-type-options", b"nosniff")


@pytest.mark.parametrize(("path", "query", "headers", "decision", "served"), [
    ("/", "", (), Serve("/", "", (NOSNIFF,)), "static:index.html"),
    ("/about", "", (), Serve("/about", "", (NOSNIFF,)), "static:about.html"),
    ("/about.html", "", (), Redirect(308, "/about"), None),
    ("/docs/", "", (), Redirect(308, "/docs"), None),
    ("/docs", "", (("cookie", "beta=1"),), Serve("/docs", "", (NOSNIFF,)), "static:docs/index.html"),
    ("/beta", "", (), Redirect(307, "/docs"), None),
    ("/old-blog/first", "", (), Redirect(308, "/blog/first"), None),
    ("/home", "x=1", (), Redirect(307, "/?x=1"), None),
    ("/assets/site.css", "", (), Serve("/assets/site.css", "", (
        (b"cache-control", b"public, max-age=31536000, immutable"), NOSNIFF)), "static:assets/site.css"),
    ("/api/hello", "name=ada", (), Serve("/api/hello", "name=ada", ((b"x-robots-tag", b"noindex"), NOSNIFF)),
     "fn:api-hello"),
    ("/api/hello.py", "", (), Redirect(308, "/api/hello"), None),
    ("/users/7", "", (), Serve("/api/users/7", "", ((b"x-user-id", b"7"), NOSNIFF), rewritten=True),
     "fn:api-users-_id"),
    ("/blog/first", "", (), Serve("/api/docs/blog/first", "", (NOSNIFF,), rewritten=True), "fn:api-docs-__slug"),
    ("/greet", "name=ada", (), Serve("/api/hello", "name=ada", (NOSNIFF,), rewritten=True), "fn:api-hello"),
    # the destination's path uses no parameter, so Vercel adds them all to the query (agent too)
    ("/whoami", "", (("x-agent", "curl"),), Serve("/api/hello", "name=curl&agent=curl", (NOSNIFF,), rewritten=True),
     "fn:api-hello"),
    ("/resize/10/20", "", (), Serve("/api/hello", "width=10&height=20", (NOSNIFF,), rewritten=True), "fn:api-hello"),
    ("/nothing", "", (), Serve("/nothing", "", (NOSNIFF,)), None),  # 404 (public/404.html)
])
def test_vercel_routing_answers_as_vercel_would(path: str, query: str, headers: tuple[tuple[str, str], ...],
                                               decision: Decision, served: str | None) -> None:
    assert answer("vercel-routing", path, query, headers) == (decision, served)


SERVED_BY = (b"x-served-by", b"hearth")


@pytest.mark.parametrize(("path", "decision", "served"), [
    ("/robots.txt", Serve("/robots.txt", "", (SERVED_BY,)), "static:robots.txt"),
    ("/", Serve("/api/main", "", (SERVED_BY,), rewritten=True), "fn:api-main"),
    ("/any/path", Serve("/api/main", "", (SERVED_BY,), rewritten=True), "fn:api-main"),
    ("/items/42", Serve("/api/main", "item=42", (SERVED_BY,), rewritten=True), "fn:api-main"),
    ("/old", Redirect(308, "/", (SERVED_BY,)), None),
    ("/secret/x", Serve("/secret/x", "", (SERVED_BY,), status=404), None),
])
def test_vercel_legacy_routes_answer_as_vercel_would(path: str, decision: Decision, served: str | None) -> None:
    assert answer("vercel-legacy", path) == (decision, served)


def test_monorepo_app_includes_the_shared_package() -> None:
    project = load_project(EXAMPLES / "monorepo" / "app1")
    assert project.functions["app"].include == ("../pkg",)
    assert [route.path for route in project.routes] == ["/hello/{name}"]
    package = build_package(project.root, python=sys.executable, exclude=frozenset({"hearth.toml"}),
                            include=included(project))
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        assert archive.namelist() == ["app.py", "pkg/__init__.py", "pkg/greetings.py"]
