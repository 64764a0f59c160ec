"""Vercel's Python entry points on the real platform (``hearth dev`` on port 0), over real HTTP.

The three examples of Vercel's Python documentation (examples/vercel-python-entrypoints: the BaseHTTPRequestHandler
hello world, Flask and FastAPI), written as the docs show them, must answer what they answer on Vercel; the
``entrypoints`` project covers the rest: Vercel's file names, imports from the project root, bodies both ways,
cookies, lifespan state across warm calls, ``module.attr`` apps and a file without an entry point.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import PROJECTS, HearthProcess

EXAMPLES = Path(__file__).parents[2] / "examples" / "vercel-python-entrypoints"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@contextmanager
def serve(project: Path) -> Iterator[tuple[HearthProcess, httpx.Client]]:
    hearth = HearthProcess(project, "--no-watch").start()
    try:
        with httpx.Client(base_url=hearth.gateway, timeout=30, follow_redirects=False) as client:
            yield hearth, client
    finally:
        hearth.stop()


@pytest.fixture(scope="module")
def hello() -> Iterator[httpx.Client]:
    with serve(EXAMPLES / "hello") as (_, client):
        yield client


@pytest.fixture(scope="module")
def flask() -> Iterator[httpx.Client]:
    with serve(EXAMPLES / "flask") as (_, client):
        yield client


@pytest.fixture(scope="module")
def fastapi() -> Iterator[httpx.Client]:
    with serve(EXAMPLES / "fastapi") as (_, client):
        yield client


@pytest.fixture(scope="module")
def project() -> Iterator[tuple[HearthProcess, httpx.Client]]:
    with serve(PROJECTS / "entrypoints") as served:
        yield served


def test_vercels_hello_world(hello: httpx.Client) -> None:
    response = hello.get("/api")
    assert (response.status_code, response.text) == (200, "Hello, world!")
    assert response.headers["content-type"] == "text/plain"
    refused = hello.post("/api")  # the class has no do_POST: http.server's own 501
    assert refused.status_code == 501 and "Unsupported method ('POST')" in refused.text


def test_vercels_flask_example(flask: httpx.Client) -> None:
    response = flask.get("/")
    assert (response.status_code, response.json()) == (200, {"message": "Hello, World!"})
    assert response.headers["content-type"] == "application/json"
    missing = flask.get("/elsewhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == "text/html; charset=utf-8"


def test_vercels_fastapi_example(fastapi: httpx.Client) -> None:
    response = fastapi.get("/")
    assert (response.status_code, response.json()) == (200, {"Python": "on Vercel"})
    assert response.headers["content-type"] == "application/json"
    assert fastapi.get("/elsewhere").json() == {"detail": "Not Found"}
    assert "/" in fastapi.get("/openapi.json").json()["paths"]  # the whole app is served, its own routes included


def test_a_handler_class_in_a_file_named_with_brackets(project: tuple[HearthProcess, httpx.Client]) -> None:
    hearth, client = project
    response = client.get("/api/users/42?full=1", headers={"Cookie": "session=s1; lang=en"})
    assert response.status_code == 200
    assert response.json() == {"path": "/api/users/42?full=1", "cookie": "session=s1; lang=en",
                               "greeting": "hello, ada", "module": "hearth_entry_api_users__id_"}
    assert response.headers.get_list("set-cookie") == ["seen=1; Path=/", "theme=dark; Path=/"]
    echoed = client.post("/api/users/42", content=PNG, headers={"Content-Type": "application/octet-stream"})
    assert echoed.content == PNG[::-1]
    assert hearth.record(echoed.headers["x-amzn-requestid"])["status"] == "success"


def test_a_flask_app_in_a_file(project: tuple[HearthProcess, httpx.Client]) -> None:
    _, client = project
    hello = client.get("/api/shop/hello/ada?x=1&x=2")
    assert hello.json() == {"greeting": "hello, ada", "args": {"x": ["1", "2"]}}
    moved = client.get("/api/shop/old")
    assert moved.status_code == 302 and moved.headers["location"] == "/api/shop/hello/new"
    logo = client.get("/api/shop/logo.png")
    assert logo.content == PNG and logo.headers["content-type"] == "image/png"
    cart = client.post("/api/shop/cart", json={"tea": 2}, headers={"Cookie": "session=s1"})
    assert cart.json() == {"cart": {"tea": 2}, "session": "s1"}
    assert cart.headers.get_list("set-cookie") == ["cart=1; Path=/", "session=s2; HttpOnly; Path=/"]


def test_a_fastapi_app_starts_once_per_instance(project: tuple[HearthProcess, httpx.Client]) -> None:
    hearth, client = project
    first = client.get("/api/fast/a/b/c")
    second = client.get("/api/fast/d")
    assert first.json()["slug"] == "a/b/c" and second.json()["slug"] == "d"
    assert first.json()["pid"] == second.json()["pid"] == second.json()["started_in"]  # one warm instance
    assert second.json()["startups"] == 1 and second.json()["calls"] == first.json()["calls"] + 1
    assert hearth.record(first.headers["x-amzn-requestid"])["cold"] is True
    assert hearth.record(second.headers["x-amzn-requestid"])["cold"] is False
    created = client.post("/api/fast/items", json={"name": "tea"})
    assert created.json() == {"created": {"name": "tea"}}


def test_a_lambda_handler_in_a_file_and_a_module_attr_wsgi_app(project: tuple[HearthProcess, httpx.Client]) -> None:
    _, client = project
    assert client.get("/api/plain").text == "plain saw /api/plain"
    assert client.get("/wsgi/a%2Fb?q=1").text == "/wsgi/a/b?q=1"


def test_a_file_without_an_entry_point_is_an_init_error(project: tuple[HearthProcess, httpx.Client]) -> None:
    _, client = project
    response = client.get("/api/empty")
    assert response.status_code == 502
    body = response.json()
    assert body["errorType"] == "Runtime.HandlerNotFound"
    assert body["errorMessage"].startswith("No entry point in api/empty.py: Hearth looks for 'handler'")
