"""``hearth deploy`` of a Vercel layout to ``hearth serve``: its routing and static files live in the catalog with its
site, survive a restart (with the package that holds them), change without touching the functions, and one
Vercel project answers the default host at a time. (The serving itself is tested on both servers in
``test_vercel_site.py``.)"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from conftest import Serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _copy(example: str, where: Path) -> Path:
    shutil.copytree(EXAMPLES / example, where, ignore=shutil.ignore_patterns("__pycache__"))
    return where


def test_a_vercel_json_edit_changes_the_routing_not_the_functions_and_all_survives_a_restart(tmp_path: Path) -> None:
    site = _copy("vercel-routing", tmp_path / "site")
    data = tmp_path / "data"
    first = Serve(data)
    try:
        output = first.deploy(site)
        assert re.search(r"created\s+function api-hello", output), output
        assert re.search(r"created\s+vercel.json routing and static files \d+ rewrites, \d+ redirects", output)
        config = site / "vercel.json"
        config.write_text(config.read_text().replace('"redirects": [', '"redirects": [\n    { "source": "/moved", '
                                                     '"destination": "/about", "permanent": false },'))
        again = first.deploy(site)
        assert re.search(r"unchanged\s+function api-hello", again), again  # the package did not change
        assert re.search(r"updated\s+vercel.json routing and static files", again), again
        moved = first.gateway.get("/moved")
        assert (moved.status_code, moved.headers["location"]) == (307, "/about")
        [listed] = first.native("/hearth/projects")["projects"]
        assert (listed["name"], listed["layout"]) == ("site", "vercel")
    finally:
        first.stop()
    second = Serve(data)
    try:
        gateway = second.gateway
        assert gateway.get("/moved").headers["location"] == "/about"
        home = gateway.get("/")
        assert home.status_code == 200 and home.content == (site / "public" / "index.html").read_bytes()
        assert gateway.get("/api/users/3").json()["id"] == "3"
        assert gateway.get("/no/such/page").content == (site / "public" / "404.html").read_bytes()
    finally:
        second.stop()


def test_a_static_only_project_keeps_its_package_across_restarts(tmp_path: Path) -> None:
    site = tmp_path / "brochure"
    (site / "public").mkdir(parents=True)
    (site / "public" / "index.html").write_text("<h1>brochure</h1>")
    (site / "vercel.json").write_text(json.dumps({"cleanUrls": True}))
    data = tmp_path / "data"
    first = Serve(data)
    try:
        first.deploy(site)
        assert first.gateway.get("/").text == "<h1>brochure</h1>"
        assert len(first.packages()) == 1
    finally:
        first.stop()
    second = Serve(data)  # start-up removes packages nothing uses: a site's static files are a use
    try:
        assert len(second.packages()) == 1
        assert second.gateway.get("/").text == "<h1>brochure</h1>"
    finally:
        second.stop()


def test_a_second_vercel_project_on_the_default_host_is_refused_until_it_has_hosts(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "data")
    try:
        serve.deploy(_copy("vercel-routing", tmp_path / "routing"))
        legacy = _copy("vercel-legacy", tmp_path / "legacy")
        refused = serve.cli("deploy", str(legacy))
        assert refused.returncode != 0
        assert "project 'routing' is a Vercel project on the default host already" in refused.stderr, refused.stderr
        assert serve.gateway.get("/items/5").status_code == 404  # nothing of the refused project was applied
        (legacy / "hearth.toml").write_text('[gateway]\nhosts = ["legacy.test"]\n')
        output = serve.deploy(legacy)
        assert re.search(r"created\s+hosts legacy.test", output), output
        item = serve.gateway.get("/items/5", headers={"Host": "legacy.test"})
        assert item.json() == {"path": "/items/5", "query": {"item": "5"}}
        assert serve.gateway.get("/about").status_code == 200  # the first project still answers the default host
    finally:
        serve.stop()


def test_hearth_toml_beside_a_vercel_layout_may_only_place_it(tmp_path: Path) -> None:
    site = _copy("vercel-routing", tmp_path / "site")
    (site / "hearth.toml").write_text('[gateway]\nhosts = ["a.test"]\n\n[cors]\nallow_origins = ["*"]\n')
    serve = Serve(tmp_path / "data")
    try:
        refused = serve.cli("deploy", str(site))
        assert refused.returncode == 2
        assert "hearth.toml:4: cors: beside api/ and vercel.json, hearth.toml may only hold a [gateway] table" in \
            refused.stderr, refused.stderr
    finally:
        serve.stop()
