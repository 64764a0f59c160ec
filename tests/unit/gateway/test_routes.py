"""``RouteTable``: API Gateway HTTP API route matching and precedence."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hearth.gateway.routes import RouteTable, strip_prefix
from hearth.model import RouteSpec


def route(path: str, function: str, *methods: str) -> RouteSpec:
    return RouteSpec(path=path, function=function, methods=frozenset(methods) if methods else None)


def matched(table: RouteTable, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = table.match(method, path)
    return None if found is None else (found.route.function, found.params)


def test_static_route_matches_only_its_path() -> None:
    table = RouteTable([route("/hello", "hello")])
    assert matched(table, "GET", "/hello") == ("hello", {})
    assert matched(table, "GET", "/hello/there") is None
    assert matched(table, "GET", "/hell") is None
    assert matched(table, "GET", "/") is None


def test_root_path() -> None:
    table = RouteTable([route("/", "root"), route("/{name}", "named")])
    assert matched(table, "GET", "/") == ("root", {})
    assert matched(table, "GET", "/x") == ("named", {"name": "x"})


def test_parameters_are_extracted() -> None:
    table = RouteTable([route("/users/{user}/posts/{post}", "post")])
    assert matched(table, "GET", "/users/ada/posts/42") == ("post", {"user": "ada", "post": "42"})


def test_a_parameter_is_one_non_empty_segment() -> None:
    table = RouteTable([route("/users/{user}", "user")])
    assert matched(table, "GET", "/users/ada/extra") is None
    assert matched(table, "GET", "/users/") is None
    assert matched(table, "GET", "/users") is None


def test_greedy_parameter_captures_slashes() -> None:
    table = RouteTable([route("/static/{proxy+}", "files")])
    assert matched(table, "GET", "/static/css/site/main.css") == ("files", {"proxy": "css/site/main.css"})
    assert matched(table, "GET", "/static/a") == ("files", {"proxy": "a"})
    assert matched(table, "GET", "/static") is None


def test_root_greedy_route_catches_everything_but_the_root() -> None:
    table = RouteTable([route("/{proxy+}", "catchall")])
    assert matched(table, "GET", "/a/b/c") == ("catchall", {"proxy": "a/b/c"})
    assert matched(table, "GET", "/") is None


def test_static_segments_are_literal_not_regex() -> None:
    table = RouteTable([route("/v1.0/{id}", "v1")])
    assert matched(table, "GET", "/v1.0/7") == ("v1", {"id": "7"})
    assert matched(table, "GET", "/v1x0/7") is None


@pytest.mark.parametrize("path", ["/hello/", "/hello//"])
def test_trailing_slash_on_the_request_is_tolerated(path: str) -> None:
    table = RouteTable([route("/hello", "static"), route("/users/{id}", "dynamic"), route("/f/{p+}", "greedy")])
    assert matched(table, "GET", path) == ("static", {})
    assert matched(table, "GET", "/users/7/") == ("dynamic", {"id": "7"})
    assert matched(table, "GET", "/f/a/b/") == ("greedy", {"p": "a/b"})


def test_trailing_slash_on_the_route_is_tolerated() -> None:
    table = RouteTable([route("/hello/", "static"), route("/users/{id}/", "dynamic")])
    assert matched(table, "GET", "/hello") == ("static", {})
    assert matched(table, "GET", "/users/7") == ("dynamic", {"id": "7"})


def test_method_mismatch_is_no_match() -> None:
    table = RouteTable([route("/hello", "static", "GET"), route("/users/{id}", "dynamic", "POST", "PUT")])
    assert matched(table, "POST", "/hello") is None
    assert matched(table, "GET", "/users/7") is None
    assert matched(table, "PUT", "/users/7") == ("dynamic", {"id": "7"})


def test_a_route_without_methods_accepts_any_method() -> None:
    table = RouteTable([route("/hello", "any")])
    for method in ("GET", "POST", "DELETE", "OPTIONS"):
        assert matched(table, method, "/hello") == ("any", {})


# -- precedence: the most specific route wins, whatever the order of the manifest -----------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_exact_beats_parameter_beats_greedy(reverse: bool) -> None:
    routes = [route("/users/{proxy+}", "greedy"), route("/users/{id}", "param"), route("/users/me", "exact")]
    table = RouteTable(routes[::-1] if reverse else routes)
    assert matched(table, "GET", "/users/me") == ("exact", {})
    assert matched(table, "GET", "/users/7") == ("param", {"id": "7"})
    assert matched(table, "GET", "/users/7/posts") == ("greedy", {"proxy": "7/posts"})


@pytest.mark.parametrize("reverse", [False, True])
def test_more_static_segments_win(reverse: bool) -> None:
    routes = [route("/{a}/{b}/{c}", "none"), route("/api/{b}/{c}", "one"), route("/api/v1/{c}", "two")]
    table = RouteTable(routes[::-1] if reverse else routes)
    assert matched(table, "GET", "/api/v1/x") == ("two", {"c": "x"})
    assert matched(table, "GET", "/api/v2/x") == ("one", {"b": "v2", "c": "x"})
    assert matched(table, "GET", "/web/v1/x") == ("none", {"a": "web", "b": "v1", "c": "x"})


@pytest.mark.parametrize("reverse", [False, True])
def test_longer_greedy_prefix_wins(reverse: bool) -> None:
    routes = [route("/{proxy+}", "root"), route("/api/{proxy+}", "api")]
    table = RouteTable(routes[::-1] if reverse else routes)
    assert matched(table, "GET", "/api/x/y") == ("api", {"proxy": "x/y"})
    assert matched(table, "GET", "/web/x") == ("root", {"proxy": "web/x"})


@pytest.mark.parametrize("reverse", [False, True])
def test_method_specific_beats_any_on_a_static_path(reverse: bool) -> None:
    routes = [route("/hello", "any"), route("/hello", "get", "GET")]
    table = RouteTable(routes[::-1] if reverse else routes)
    assert matched(table, "GET", "/hello") == ("get", {})
    assert matched(table, "POST", "/hello") == ("any", {})


@pytest.mark.parametrize("reverse", [False, True])
def test_method_specific_beats_any_on_a_dynamic_path(reverse: bool) -> None:
    routes = [route("/users/{id}", "any"), route("/users/{id}", "post", "POST")]
    table = RouteTable(routes[::-1] if reverse else routes)
    assert matched(table, "POST", "/users/7") == ("post", {"id": "7"})
    assert matched(table, "GET", "/users/7") == ("any", {"id": "7"})


def test_a_static_route_with_another_method_falls_through_to_a_dynamic_one() -> None:
    table = RouteTable([route("/users/me", "me", "GET"), route("/users/{id}", "user")])
    assert matched(table, "GET", "/users/me") == ("me", {})
    assert matched(table, "DELETE", "/users/me") == ("user", {"id": "me"})


def test_a_dynamic_route_with_another_method_falls_through_to_the_next() -> None:
    table = RouteTable([route("/users/{id}", "get", "GET"), route("/users/{proxy+}", "greedy")])
    assert matched(table, "DELETE", "/users/7") == ("greedy", {"proxy": "7"})


def test_the_table_keeps_its_routes_in_manifest_order() -> None:
    routes = [route("/b/{x}", "b"), route("/a", "a")]
    assert RouteTable(routes).routes == tuple(routes)


def test_a_route_with_header_conditions_wins_only_when_they_all_hold() -> None:
    gray = RouteSpec("/api/{proxy+}", "api", qualifier="gray", match_headers=(("x-env", "gray"), ("x-team", "a")))
    table = RouteTable([RouteSpec("/api/{proxy+}", "api"), gray, RouteSpec("/api/x", "exact")])
    both = [(b"x-env", b"gray"), (b"X-Team", b"a")]
    assert table.match("GET", "/api/y", both).route is gray  # type: ignore[union-attr]
    assert table.match("GET", "/api/y", [(b"x-env", b"gray")]).route.qualifier is None  # type: ignore[union-attr]
    assert table.match("GET", "/api/y", [(b"x-env", b"gray"), (b"x-env", b"b"), (b"x-team", b"a")]) \
        .route.qualifier is None  # type: ignore[union-attr]  # two values: "gray,b" is not "gray"
    assert table.match("GET", "/api/x", both).route.function == "exact"  # type: ignore[union-attr]  # exact path first


def test_header_conditions_order_static_routes_too() -> None:
    gray = RouteSpec("/color", "api", qualifier="1", match_headers=(("x-env", "gray"),))
    table = RouteTable([RouteSpec("/color", "api", frozenset({"GET"})), gray])
    assert table.match("GET", "/color", [(b"x-env", b"gray")]).route is gray  # type: ignore[union-attr]
    assert table.match("GET", "/color").route.qualifier is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("path", "raw", "prefix", "seen"), [
    ("/v1/users/7", b"/v1/users/7", "/v1", ("/users/7", b"/users/7")),
    ("/v1", b"/v1", "/v1", ("/", b"/")),
    ("/v1/", b"/v1/", "/v1", ("/", b"/")),
    ("/app/a b/c", b"/app/a%20b/c", "/app", ("/a b/c", b"/a%20b/c")),
    ("/a/b/c", b"/a/b/c", "/a/b", ("/c", b"/c")),
    # an encoded "/" counts as the "/" it decodes to: the raw rest always decodes to the rest of the path
    ("/v1/shop/x", b"/v1%2Fshop/x", "/v1/shop", ("/x", b"/x")),
    ("/v1/a/b/c", b"/v1/a%2Fb/c", "/v1/a", ("/b/c", b"/b/c")),
    ("/v1/x", b"/v1%2fx", "/v1", ("/x", b"/x")),
    ("/v1//x", b"/v1%2F%2Fx", "/v1", ("//x", b"/%2Fx")),
    ("/v1/a/b", b"/v1/a%2Fb", "/v1", ("/a/b", b"/a%2Fb")),  # past the prefix: as the client sent it
    ("/v1/x", b"/%76%31/x", "/v1", ("/x", b"/x")),
    ("/café/x y", b"/caf%C3%A9/x%20y", "/café", ("/x y", b"/x%20y")),
    ("/v1/%zz", b"/v1/%zz", "/v1", ("/%zz", b"/%zz")),  # not an escape: stays itself
    ("/\ufffd/x y", b"/\xff/x%20y", "/\ufffd", ("/x y", b"/x%20y")),  # a raw byte the server read as U+FFFD:
    # the raw path cannot spell the prefix, so the function gets the rest of the path, encoded
    ("/other/x", b"/other/x", "/v1", ("/other/x", b"/other/x")),  # not under the prefix: left alone
])
def test_strip_prefix_removes_whole_leading_segments(path: str, raw: bytes, prefix: str,
                                                      seen: tuple[str, bytes]) -> None:
    stripped = strip_prefix({"path": path, "raw_path": raw, "method": "GET"}, prefix)
    assert (stripped["path"], stripped["raw_path"], stripped["method"]) == (*seen, "GET")
    assert unquote(stripped["raw_path"].decode("ascii")) == stripped["path"]


def test_routes_with_a_static_first_segment_keep_their_precedence_beside_those_with_a_parameter_first() -> None:
    # Same rank (one static segment of two): the one declared first wins, whichever bucket it is in.
    assert matched(RouteTable([route("/{a}/b", "param_first"), route("/x/{id}", "static_first")]), "GET",
                   "/x/b") == ("param_first", {"a": "x"})
    assert matched(RouteTable([route("/x/{id}", "static_first"), route("/{a}/b", "param_first")]), "GET",
                   "/x/b") == ("static_first", {"id": "b"})
    table = RouteTable([route("/{any+}", "greedy"), route("/x/{id}", "x"), route("/y/{id}/z", "y")])
    assert matched(table, "GET", "/y/7/z") == ("y", {"id": "7"})
    assert matched(table, "GET", "/x/7") == ("x", {"id": "7"})
    assert matched(table, "GET", "/x/7/8") == ("greedy", {"any": "x/7/8"})
    assert matched(table, "GET", "//x/7") == ("greedy", {"any": "/x/7"})


@given(st.lists(st.lists(st.sampled_from(["a", "b", "{p}", "{q+}"]), min_size=1, max_size=3), max_size=8),
       st.lists(st.sampled_from(["a", "b", "c", ""]), max_size=4))
def test_matching_picks_what_a_scan_of_every_parameterised_route_in_precedence_order_picks(
        paths: list[list[str]], request: list[str]) -> None:
    paths = [[segment.replace("{p", f"{{p{j}").replace("{q", f"{{q{j}") for j, segment in enumerate(segments)]
             for segments in paths]  # each parameter a name of its own
    specs = [route("/" + "/".join(segments), f"f{i}") for i, segments in enumerate(paths)
             if any("{" in segment for segment in segments)
             and all("+" not in segment for segment in segments[:-1])]
    table = RouteTable(specs)
    path = "/" + "/".join(request)
    found = table.match("GET", path)
    normalised = path.rstrip("/") or "/" if len(path) > 1 else path
    expected = next((compiled.route for compiled in table._dynamic if compiled.regex.match(normalised)), None)
    assert (found.route if found else None) == expected
