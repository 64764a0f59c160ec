"""Vercel's ``source`` patterns (path-to-regexp 6), legacy ``src`` regexes and destination templates."""

from __future__ import annotations

import pytest

from hearth.gateway.vercel_patterns import PatternError, Template, compile_regex, compile_source, js_regex

# source, path, the named parameters it captures (None: no match)
SOURCES = [
    ("/about", "/about", {}),
    ("/about", "/about/", None),  # strict: a trailing slash is another path
    ("/about", "/about/team", None),
    ("/about", "/ABOUT", {}),  # case-insensitive, as Vercel matches routes
    ("/blog/:slug", "/blog/hello-world", {"slug": "hello-world"}),
    ("/blog/:slug", "/blog", None),
    ("/blog/:slug", "/blog/a/b", None),
    ("/blog/:path*", "/blog", {"path": ""}),
    ("/blog/:path*", "/blog/a", {"path": "a"}),
    ("/blog/:path*", "/blog/a/b/c", {"path": "a/b/c"}),
    ("/blog/:path+", "/blog", None),
    ("/blog/:path+", "/blog/a/b", {"path": "a/b"}),
    ("/post/:id(\\d{1,})", "/post/123", {"id": "123"}),
    ("/post/:id(\\d{1,})", "/post/abc", None),
    ("/:lang?/docs", "/docs", {"lang": ""}),
    ("/:lang?/docs", "/en/docs", {"lang": "en"}),
    ("/file.:ext", "/file.txt", {"ext": "txt"}),
    ("/users/:id/posts/:post", "/users/7/posts/42", {"id": "7", "post": "42"}),
    ("/(.*)", "/anything/at/all", {}),
    ("/(.*)", "/", {}),
    ("/api/(.*)", "/api/x/y", {}),
    ("/old/:path(.*)", "/old/a/b", {"path": "a/b"}),
    ("/docs{/v:version}?", "/docs/v2", {"version": "2"}),  # {…} groups text with a parameter
    ("/docs{/v:version}?", "/docs", {"version": ""}),
    ("/a\\:b", "/a:b", {}),  # an escaped ':' is literal
]


@pytest.mark.parametrize(("source", "path", "expected"), SOURCES)
def test_source_matches_as_path_to_regexp(source: str, path: str, expected: dict[str, str] | None) -> None:
    compiled = compile_source(source)
    match = compiled.regex.match(path)
    if expected is None:
        assert match is None
        return
    assert match is not None
    assert {name: match.group(group) or "" for name, group in compiled.params} == expected


def test_unnamed_groups_are_numbered_for_dollar_references() -> None:
    compiled = compile_source("/(.*)/x/(\\d+)")
    match = compiled.regex.match("/a/b/x/12")
    assert match is not None and match.groups() == ("a/b", "12")
    assert compiled.params == ()


@pytest.mark.parametrize(("source", "problem"), [
    ("blog", 'starting with "/"'),
    ("/blog/*", "unexpected '*' at position 6"),
    ("/blog/?", "unexpected '?'"),
    ("/a/(b", "not closed"),
    ("/a/:", "no parameter name"),
    ("/a/((b))", "capturing group inside"),
    ("/a/()", "empty"),
    ("/(?:en|fr)/home", "cannot start with '?'"),
    ("/a/{b", "expected '}'"),
    ("/x\\", "escapes nothing"),
    ("/:id([)", "not a valid pattern"),
])
def test_bad_sources_say_what_is_wrong(source: str, problem: str) -> None:
    with pytest.raises(PatternError) as caught:
        compile_source(source)
    assert problem in str(caught.value)


@pytest.mark.parametrize(("src", "path", "matches"), [
    ("/api/(.*)", "/api/users", True),
    ("/api/(.*)", "/x/api/users", False),  # anchored with ^ as Vercel does
    ("^/api", "/api/users", False),  # ... and with $
    ("/API/.*", "/api/x", True),  # case-insensitive by default
    ("/(?<name>[^/]+)/x", "/ada/x", True),  # a JavaScript named group
])
def test_legacy_src_is_anchored_and_case_insensitive(src: str, path: str, matches: bool) -> None:
    assert (compile_regex(src).match(path) is not None) is matches


def test_case_sensitive_legacy_src() -> None:
    assert compile_regex("/About", case_sensitive=True).match("/about") is None
    assert compile_regex("/About", case_sensitive=True).match("/About") is not None


def test_javascript_regex_spelling_is_translated() -> None:
    assert js_regex("(?<slug>[a-z]+)-\\k<slug>") == "(?P<slug>[a-z]+)-(?P=slug)"
    assert js_regex("(?<=a)(?<!b)") == "(?<=a)(?<!b)"  # lookbehinds stay
    with pytest.raises(PatternError):
        compile_regex("/(unclosed")


@pytest.mark.parametrize(("text", "params", "groups", "expected"), [
    ("/news/:slug", {"slug": "hi"}, (), "/news/hi"),
    ("/news/:path*", {"path": "a/b"}, (), "/news/a/b"),
    ("/news/:path*", {"path": ""}, (), "/news/"),  # Vercel keeps the slash
    ("/x/$1/$2", {}, ("a", "b"), "/x/a/b"),
    ("/x/$3", {}, ("a",), "/x/"),  # a group that does not exist is empty
    ("/x/$slug", {"slug": "s"}, (), "/x/s"),  # a named group
    ("/x/$unknown", {}, (), "/x/$unknown"),
    ("https://example.com:8080/:path", {"path": "p"}, (), "https://example.com:8080/p"),  # a port is not a param
    ("/q?id=:id&x=1", {"id": "7"}, (), "/q?id=7&x=1"),
])
def test_templates_render_params_and_groups(text: str, params: dict[str, str], groups: tuple[str, ...],
                                            expected: str) -> None:
    assert Template.compile(text, frozenset(params)).render(params, groups) == expected


def test_template_encodes_only_what_was_captured() -> None:
    template = Template.compile("/a%20b/:name", frozenset({"name"}))
    assert template.render({"name": "x y"}, (), lambda value: value.replace(" ", "%20")) == "/a%20b/x%20y"
    assert template.references == frozenset({"name"})
