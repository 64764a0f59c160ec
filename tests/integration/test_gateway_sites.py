"""Several projects on one ``hearth serve`` gateway, by ``Host``; route prefixes, ``strip_prefix``, header-based
routing to another version, and per-route CORS — over real HTTP, deployed with the real CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import PROJECTS, Serve

SITES = PROJECTS / "sites"
SHOP = {"Host": "shop.example.com"}
PREFLIGHT = {"Origin": "https://shop.example.com", "Access-Control-Request-Method": "GET"}


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    server = Serve(tmp_path_factory.mktemp("sites") / "data")
    try:
        for project in ("shop", "blog", "plain"):
            server.deploy(SITES / project)
        yield server
    finally:
        server.stop()


def test_each_host_reaches_only_its_own_projects_routes(serve: Serve) -> None:
    gateway = serve.gateway
    shop = gateway.get("/v1/items/7", headers=SHOP)
    assert shop.status_code == 200, shop.text
    assert shop.json()["function"] == "shop"
    blog = gateway.get("/items/7", headers={"Host": "www.blog.example:8080"})  # a wildcard host, any port
    assert blog.json()["function"] == "blog"
    assert gateway.get("/posts", headers={"Host": "a.b.blog.example"}).json()["function"] == "blog"
    assert gateway.get("/posts", headers={"Host": "blog.example"}).status_code == 404  # "*." needs a subdomain
    assert gateway.get("/hello", headers={"Host": "anything.else"}).json()["function"] == "plain"
    assert gateway.get("/hello", headers=SHOP).status_code == 404  # a named host is its project's alone
    assert gateway.get("/v1/items/7", headers={"Host": "Shop.Example.COM."}).json()["function"] == "shop"


def test_a_prefix_mounts_the_routes_and_functions_see_paths_without_it(serve: Serve) -> None:
    item = serve.gateway.get("/v1/items/7", headers=SHOP).json()
    assert item["rawPath"] == "/items/7" and item["routeKey"] == "ANY /v1/items/{id}"
    files = serve.gateway.get("/v1/files/a%20b/c.txt", headers=SHOP).json()
    assert files["rawPath"] == "/a%20b/c.txt"  # strip_prefix = true: /v1/files too, the client's encoding kept
    encoded = serve.gateway.get("/v1%2Ffiles/a%2Fb", headers=SHOP).json()  # routes match the decoded path
    assert encoded["rawPath"] == "/a%2Fb"  # the prefix went where the decoded path has it, "%2F" counted as "/"
    assert serve.gateway.get("/items/7", headers=SHOP).status_code == 404


def test_header_rules_and_cors_belong_to_their_project(serve: Serve) -> None:
    gateway = serve.gateway
    shop = gateway.get("/v1/items/7", headers={**SHOP, "Origin": "https://shop.example.com"})
    assert shop.headers["x-shop"] == "yes"  # the rule's source is relative to the prefix
    assert shop.headers["access-control-allow-origin"] == "https://shop.example.com"  # the function's "*" replaced
    blog = gateway.get("/items/7", headers={"Host": "x.blog.example", "Origin": "https://shop.example.com"})
    assert "x-shop" not in blog.headers
    assert blog.headers["access-control-allow-origin"] == "*"  # no CORS in the blog: the function's own header
    preflight = gateway.options("/v1/items/7", headers={**SHOP, **PREFLIGHT})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-methods"] == "GET"
    missing = gateway.get("/v1/nothing", headers={**SHOP, "Origin": "https://shop.example.com"})
    assert missing.status_code == 404  # a 404 under the prefix still gets the project's CORS
    assert missing.headers["access-control-allow-origin"] == "https://shop.example.com"


def test_a_route_can_have_its_own_cors_or_none(serve: Serve) -> None:
    gateway = serve.gateway
    partner = {**SHOP, "Origin": "https://partner.example", "Access-Control-Request-Method": "POST"}
    answer = gateway.options("/v1/partner", headers=partner)
    assert answer.status_code == 204
    assert (answer.headers["access-control-allow-origin"], answer.headers["access-control-allow-methods"]) == (
        "https://partner.example", "POST")
    shop_origin = gateway.options("/v1/partner", headers={**SHOP, **PREFLIGHT, "Access-Control-Request-Method":
                                                          "POST"})
    assert "access-control-allow-origin" not in shop_origin.headers  # not the project's origins on this route
    opened = gateway.get("/v1/open", headers={**SHOP, "Origin": "https://elsewhere.example"})
    assert opened.headers["access-control-allow-origin"] == "*"  # cors = false: the function's header stands
    assert gateway.options("/v1/open", headers={**SHOP, **PREFLIGHT}).json()["function"] == "shop"


def test_a_host_another_project_answers_is_refused_and_nothing_changes(serve: Serve) -> None:
    refused = serve.cli("deploy", str(SITES / "thief"))
    assert refused.returncode != 0
    assert "host shop.example.com is answered by project 'shop' already" in refused.stderr, refused.stderr
    assert serve.gateway.get("/hello", headers=SHOP).status_code == 404
    assert "thief" not in {f["FunctionName"] for f in serve.client().list_functions()["Functions"]}


def test_a_header_route_sends_matching_requests_to_another_version(tmp_path: Path) -> None:
    project = tmp_path / "canary"
    project.mkdir()
    (project / "fns.py").write_text((SITES / "common" / "echo.py").read_text())
    manifest = project / "hearth.toml"
    manifest.write_text('[functions.api]\nhandler = "fns.echo"\nenv = { COLOR = "blue" }\n\n'
                        '[[routes]]\npath = "/color"\nfunction = "api"\n')
    serve = Serve(tmp_path / "data")
    try:
        serve.deploy(project)
        assert serve.publish("api") == "1"
        manifest.write_text(manifest.read_text().replace("blue", "green") +
                            '\n[[routes]]\npath = "/color"\nfunction = "api:1"\n'
                            'match_headers = { "X-Env" = "gray" }\n')
        output = serve.deploy(project)
        assert re.search(r"created\s+route ANY /color → api:1", output), output
        gateway = serve.gateway
        assert gateway.get("/color").json()["color"] == "green"
        gray = gateway.get("/color", headers={"X-Env": "gray"})
        assert gray.json()["color"] == "blue" and gray.headers["x-amz-executed-version"] == "1"
        assert gateway.get("/color", headers={"X-Env": "GRAY"}).json()["color"] == "green"  # exact value only
    finally:
        serve.stop()


def test_sites_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Serve(data)
    try:
        first.deploy(SITES / "shop")
    finally:
        first.stop()
    second = Serve(data)
    try:
        reply = second.gateway.get("/v1/items/1", headers={**SHOP, "Origin": "https://shop.example.com"})
        assert reply.status_code == 200 and reply.headers["x-shop"] == "yes"
        assert reply.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert second.gateway.get("/v1/items/1").status_code == 404  # not the shop's host
    finally:
        second.stop()


def test_httpx_sends_the_host_we_ask_for() -> None:
    # Guards the tests above: a client that replaced Host with the URL's would test nothing.
    request = httpx.Request("GET", "http://127.0.0.1:1/x", headers=SHOP)
    assert request.headers["host"] == "shop.example.com"
