"""The gateway's fronts by host: which routes and which response policy answer a request."""

from __future__ import annotations

from hearth.gateway.sites import SiteMap
from hearth.model import CorsSpec, ResponseHeaders, RouteSpec, SiteSpec

SHOP_CORS = CorsSpec(allow_origins=("https://shop.example",), allow_methods=("GET",))
PARTNER = CorsSpec(allow_origins=("https://partner.example",), allow_methods=("POST",))
SITES = {
    "shop": SiteSpec("shop", hosts=("shop.example",), prefix="/v1",
                     headers=(ResponseHeaders("/items/**", {"x-shop": "yes"}),), cors=SHOP_CORS),
    "blog": SiteSpec("blog", hosts=("*.blog.example", "*.example")),
    "plain": SiteSpec("plain", headers=(ResponseHeaders("/**", {"x-plain": "1"}),)),
    "api": SiteSpec("api", prefix="/api", cors=PARTNER),
}
ROUTES = (
    RouteSpec("/v1/items/{id}", "shop", site="shop"),
    RouteSpec("/v1/open", "shop", site="shop", cors_off=True),
    RouteSpec("/v1/partner", "shop", site="shop", cors=PARTNER),
    RouteSpec("/posts", "blog", site="blog"),
    RouteSpec("/hello", "plain", site="plain"),
    RouteSpec("/api/x", "api", site="api"),
    RouteSpec("/old", "legacy"),  # stored before sites: no site
)


def host(name: str) -> list[tuple[bytes, bytes]]:
    return [(b"host", name.encode())]


def function(sites: SiteMap, host_name: str, path: str) -> str | None:
    found = sites.front(host(host_name)).match("GET", path, host(host_name))
    return None if found is None else found.route.function


def test_a_host_finds_its_site_exactly_then_by_the_longest_wildcard_then_the_default() -> None:
    sites = SiteMap(ROUTES, SITES)
    assert function(sites, "shop.example", "/v1/items/1") == "shop"
    assert function(sites, "SHOP.example:8080", "/v1/items/1") == "shop"
    assert function(sites, "shop.example.", "/v1/items/1") == "shop"
    assert function(sites, "a.blog.example", "/posts") == "blog"
    assert function(sites, "other.example", "/posts") == "blog"  # "*.example" is the blog's too
    assert function(sites, "blog.example", "/posts") == "blog"  # a subdomain of "example"
    assert function(sites, "localhost", "/hello") == "plain"
    assert function(sites, "localhost", "/old") == "legacy"
    assert function(sites, "shop.example", "/hello") is None  # a named host is its site's alone
    assert function(sites, "[::1]:8080", "/hello") == "plain"


def test_without_named_hosts_every_request_gets_the_default_front() -> None:
    sites = SiteMap(ROUTES[3:], {"plain": SITES["plain"]})
    assert not sites.by_host
    assert sites.front([]) is sites.default


def test_a_route_gets_its_sites_policy_its_own_cors_or_none() -> None:
    front = SiteMap(ROUTES, SITES).front(host("shop.example"))
    items, opened, partner = (front.match("GET", path, []) for path in ("/v1/items/1", "/v1/open", "/v1/partner"))
    assert items is not None and opened is not None and partner is not None
    assert front.policy(items.route).cors == SHOP_CORS  # type: ignore[union-attr]
    assert front.policy(opened.route).cors is None  # type: ignore[union-attr]  # header rules only
    assert front.policy(partner.route).cors == PARTNER  # type: ignore[union-attr]
    finished = front.policy(items.route).finish("/v1/items/1", [], [])  # type: ignore[union-attr]
    assert (b"x-shop", b"yes") in finished  # the rule's source is relative to the prefix
    outside = front.policy(items.route).finish("/items/1", [], [])  # type: ignore[union-attr]
    assert (b"x-shop", b"yes") not in outside


def test_an_unmatched_request_gets_the_policy_of_the_site_whose_prefix_holds_it() -> None:
    front = SiteMap(ROUTES, SITES).default
    assert front.fallback("/api/nothing").cors == PARTNER  # type: ignore[union-attr]
    assert front.fallback("/apiary").rules == SITES["plain"].headers  # type: ignore[union-attr]
    assert front.fallback("/elsewhere").rules == SITES["plain"].headers  # type: ignore[union-attr]


def test_a_preflight_is_answered_under_the_policy_of_the_route_for_the_requested_method() -> None:
    front = SiteMap(ROUTES, SITES).front(host("shop.example"))
    partner = [(b"origin", b"https://partner.example"), (b"access-control-request-method", b"POST")]
    status, headers = front.preflight("/v1/partner", partner)  # type: ignore[misc]
    assert status == 204 and (b"access-control-allow-origin", b"https://partner.example") in headers
    assert front.preflight("/v1/open", partner) is None  # cors = false: the function answers it
    assert front.preflight("/v1/items/1", [(b"origin", b"https://shop.example")]) is None  # not a preflight
