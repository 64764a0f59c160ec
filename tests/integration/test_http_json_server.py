"""An unmodified third-party server behind ``runtime = "http"``: npm's json-server (a REST API over a JSON file)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import HearthProcess, poll
from http_tools import json_server


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, script = json_server()
    root = tmp_path_factory.mktemp("json-server")
    (root / "db.json").write_text(json.dumps({"posts": [{"id": 1, "title": "first"}]}, indent=2))
    (root / "hearth.toml").write_text(f"""
[functions.api]
runtime = "http"
command = ["{node}", "{script}", "db.json", "--port", "{{port}}", "--host", "127.0.0.1"]
health_path = "/db"
startup_timeout_s = 30
max_concurrency = 16

[[routes]]
path = "/{{proxy+}}"
function = "api"
""")
    return root


@pytest.fixture(scope="module")
def api(project: Path) -> Iterator[tuple[HearthProcess, httpx.Client]]:
    hearth = HearthProcess(project, "--no-watch").start()
    with httpx.Client(base_url=hearth.gateway, timeout=30) as client:
        yield hearth, client
    hearth.stop()


def test_json_server_crud_persists_in_its_db_file(api: tuple[HearthProcess, httpx.Client], project: Path) -> None:
    hearth, client = api
    assert client.get("/posts").json() == [{"id": 1, "title": "first"}]
    created = client.post("/posts", json={"title": "second"})
    assert created.status_code == 201, created.text
    post_id = created.json()["id"]
    assert created.json() == {"id": post_id, "title": "second"}
    replaced = client.put(f"/posts/{post_id}", json={"title": "second, edited"})
    assert replaced.status_code == 200
    assert client.get(f"/posts/{post_id}").json() == {"id": post_id, "title": "second, edited"}
    edited = {"id": post_id, "title": "second, edited"}
    assert poll(lambda: edited in saved_posts(project), 10), "the server did not write its own file"
    assert client.delete(f"/posts/{post_id}").status_code == 200
    assert client.get(f"/posts/{post_id}").status_code == 404
    assert client.get("/posts").json() == [{"id": 1, "title": "first"}]
    assert poll(lambda: [post["id"] for post in saved_posts(project)] == [1], 10)
    assert len(hearth.instances("api")) == 1  # one process served them all, keeping its state


def test_json_server_query_and_headers(api: tuple[HearthProcess, httpx.Client]) -> None:
    _, client = api
    response = client.get("/posts", params={"title": "first"})
    assert response.json() == [{"id": 1, "title": "first"}]
    assert response.headers["x-powered-by"] == "Express"
    assert "x-amzn-requestid" in response.headers


def saved_posts(project: Path) -> list[dict[str, object]]:
    """The posts json-server has written to its file so far (it writes after answering)."""
    try:
        posts: list[dict[str, object]] = json.loads((project / "db.json").read_text())["posts"]
    except (OSError, ValueError):  # caught mid-write
        return []
    return posts
