"""Trusted proxies: whose X-Forwarded-* the gateway believes, the client and scheme it derives, and the HTTPS
redirect."""

from __future__ import annotations

from typing import Any

import pytest

from hearth.config.settings import Settings, parse_networks
from hearth.errors import ConfigError
from hearth.gateway.forwarded import FORWARDED, Edge
from hearth.runtimes.http.proxy import upstream_headers

EDGE = Edge(parse_networks(["10.0.0.0/8", "::1"]), https_redirect=True)


def scope(peer: str, *headers: tuple[bytes, bytes], path: str = "/a b", query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "method": "GET", "scheme": "http", "path": path, "raw_path": path.replace(" ", "%20")
            .encode(), "query_string": query, "headers": [(b"host", b"internal:8080"), *headers],
            "client": (peer, 5555), "server": ("10.9.9.9", 8080)}


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    request = scope("203.0.113.7", (b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"http"))
    assert EDGE.resolve(request) is None  # never redirected: only a trusted proxy can say "plain http"
    assert request["client"] == ("203.0.113.7", 5555) and request["scheme"] == "http"
    assert FORWARDED not in request
    headers = dict(upstream_headers(request, "r")[0])
    assert headers[b"x-forwarded-for"] == b"203.0.113.7" and headers[b"x-forwarded-host"] == b"internal:8080"


@pytest.mark.parametrize(("chain", "client"), [
    (b"198.51.100.9", "198.51.100.9"),
    (b"6.6.6.6, 198.51.100.9", "198.51.100.9"),  # what the client itself claimed (left) is not believed
    (b"198.51.100.9, 10.0.0.5", "198.51.100.9"),  # trusted hops are skipped
    (b"10.0.0.5", "10.0.0.5"),  # every hop trusted: the left-most
    (b"not-an-ip, 198.51.100.9", "198.51.100.9"),
])
def test_a_trusted_proxys_chain_names_the_client(chain: bytes, client: str) -> None:
    request = scope("10.1.1.1", (b"x-forwarded-for", chain), (b"x-forwarded-proto", b"https"))
    assert EDGE.resolve(request) is None
    assert request["client"][0] == client and request["scheme"] == "https"


def test_a_request_passed_on_extends_the_trusted_chain_and_keeps_the_clients_host() -> None:
    request = scope("10.1.1.1", (b"x-forwarded-for", b"198.51.100.9"), (b"x-forwarded-proto", b"https"),
                    (b"x-forwarded-host", b"shop.example.com"))
    EDGE.resolve(request)
    headers = dict(upstream_headers(request, "r")[0])
    assert headers[b"x-forwarded-for"] == b"198.51.100.9, 10.1.1.1"
    assert headers[b"x-forwarded-proto"] == b"https"
    assert headers[b"x-forwarded-host"] == b"shop.example.com"


def test_plain_http_through_a_trusted_proxy_is_redirected_to_https() -> None:
    request = scope("::1", (b"x-forwarded-proto", b"http"), (b"x-forwarded-host", b"shop.example.com"),
                    query=b"q=1")
    assert EDGE.resolve(request) == b"https://shop.example.com/a%20b?q=1"
    without = Edge(parse_networks(["::1"]), https_redirect=False)
    assert without.resolve(scope("::1", (b"x-forwarded-proto", b"http"))) is None


def test_settings_refuse_a_bad_network_and_a_redirect_without_trusted_proxies() -> None:
    with pytest.raises(ConfigError, match="'10.0.0.300' is not an IP address"):
        parse_networks(["10.0.0.300"])
    with pytest.raises(ConfigError, match="--https-redirect needs --trusted-proxy"):
        Settings(https_redirect=True)
