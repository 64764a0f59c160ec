"""``hearth projects`` and ``hearth rm-project`` (``GET /hearth/projects``, ``DELETE /hearth/projects/{name}``)
against a real ``hearth serve`` with the sites projects deployed by the real CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import PROJECTS, Serve

SITES = PROJECTS / "sites"
SHOP = {"Host": "shop.example.com"}
BLOG = {"Host": "www.blog.example"}


def deployed(data_dir: Path) -> Serve:
    server = Serve(data_dir, "--quiet")
    try:
        for project in ("shop", "blog", "plain"):
            server.deploy(SITES / project)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    server = deployed(tmp_path_factory.mktemp("projects") / "data")
    yield server
    server.stop()


def test_the_api_lists_each_project_with_its_site_and_routes(serve: Serve) -> None:
    projects = {project["name"]: project for project in serve.native("/hearth/projects")["projects"]}
    assert set(projects) == {"shop", "blog", "plain"}
    shop = projects["shop"]
    assert (shop["hosts"], shop["prefix"], shop["header_rules"], shop["cors"]) == (["shop.example.com"], "/v1", 1,
                                                                                   True)
    assert shop["routes"][0] == {"methods": ["ANY"], "path": "/v1/items/{id}", "target": "shop"}
    assert [route["path"] for route in shop["routes"]] == ["/v1/items/{id}", "/v1/files/{path+}", "/v1/open",
                                                            "/v1/partner"]
    assert projects["plain"] == {"name": "plain", "hosts": [], "prefix": "", "header_rules": 0, "cors": False,
                                 "layout": "hearth",
                                 "routes": [{"methods": ["ANY"], "path": "/hello", "target": "plain"}]}


def test_the_cli_prints_a_table_of_projects(serve: Serve) -> None:
    listing = serve.cli("projects")
    assert listing.returncode == 0, listing.stderr
    table = "\n".join(line.rstrip() for line in listing.stdout.splitlines())  # (rich pads every cell)
    assert re.match(r"\s*NAME\s+HOSTS\s+PREFIX\s+HEADER RULES\s+CORS\s+ROUTES\n", table), table
    assert re.search(r"^ shop\s+shop\.example\.com\s+/v1\s+1\s+yes\s+ANY /v1/items/\{id\} → shop$", table,
                     re.MULTILINE), table
    assert re.search(r"^\s+ANY /v1/partner → shop$", table, re.MULTILINE), table  # a route per line
    assert re.search(r"^ plain\s+\(any other\)\s+/\s+0\s+no\s+ANY /hello → plain$", table, re.MULTILINE), table


def test_an_unknown_project_is_404_and_says_how_to_list_them(serve: Serve) -> None:
    missing = serve.cli("rm-project", "nosuch")
    assert missing.returncode == 1
    assert "ResourceNotFoundException: Project not found: 'nosuch'; `hearth projects`" in missing.stderr, \
        missing.stderr
    response = httpx.delete(f"{serve.process.control}/hearth/projects/nosuch", timeout=30,
                            headers={"Authorization": f"Bearer {serve.key['token']}"})
    assert response.status_code == 404
    assert response.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert "GET /hearth/projects" in response.json()["message"]


def test_the_project_endpoints_need_the_admin_key(serve: Serve) -> None:
    for method in ("GET", "DELETE"):
        path = "/hearth/projects" if method == "GET" else "/hearth/projects/shop"
        response = httpx.request(method, f"{serve.process.control}{path}", timeout=30)
        assert response.status_code == 403, (method, response.text)
        wrong = httpx.request(method, f"{serve.process.control}{path}", timeout=30,
                              headers={"Authorization": "Bearer hearth_wrong"})
        assert wrong.status_code == 403, (method, wrong.text)
    assert "shop" in {project["name"] for project in serve.native("/hearth/projects")["projects"]}


def test_rm_project_takes_its_routes_off_the_gateway_and_keeps_its_functions(tmp_path: Path) -> None:
    serve = deployed(tmp_path / "data")
    try:
        gateway = serve.gateway
        assert gateway.get("/v1/items/7", headers=SHOP).json()["function"] == "shop"
        assert gateway.get("/hello", headers=SHOP).status_code == 404  # the shop's host is the shop's alone

        removed = serve.cli("rm-project", "shop")
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.splitlines() == ["deleted project shop (4 routes)",
                                               "kept its functions: shop (`hearth rm NAME` deletes one)"]

        assert gateway.get("/v1/items/7", headers=SHOP).status_code == 404  # at once: no route, no prefix
        assert gateway.get("/v1/files/a", headers=SHOP).status_code == 404
        assert gateway.get("/hello", headers=SHOP).json()["function"] == "plain"  # the host is nobody's now
        assert gateway.get("/items/7", headers=BLOG).json()["function"] == "blog"  # the others answer as before
        assert gateway.get("/hello").json()["function"] == "plain"

        names = {project["name"] for project in serve.native("/hearth/projects")["projects"]}
        assert names == {"blog", "plain"}
        assert "shop" in {f["FunctionName"] for f in serve.client().list_functions()["Functions"]}
        invoked = serve.cli("invoke", "shop", "--data", '{"rawPath": "/direct", "routeKey": "none"}')
        assert invoked.returncode == 0, invoked.stderr
        assert json.loads(json.loads(invoked.stdout)["body"])["function"] == "shop"  # still there, invocable
        again = serve.cli("rm-project", "shop")
        assert again.returncode == 1 and "Project not found: 'shop'" in again.stderr
    finally:
        serve.stop()
