"""A Vercel layout is served as Vercel would serve it: vercel.json routing, static files from ``public/``, the
``api/`` functions and the 404 page, over real HTTP against the examples — under ``hearth dev`` and deployed to
``hearth serve`` with ``hearth deploy`` (each test that reads an example runs on both)."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import HearthProcess, Serve, poll

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _start(tmp_path: Path, example: str) -> Iterator[tuple[httpx.Client, Path]]:
    root = tmp_path / example
    shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns("__pycache__"))
    hearth = HearthProcess(root, "--quiet").start()
    try:
        with httpx.Client(base_url=hearth.gateway, timeout=30, follow_redirects=False) as client:
            yield client, root
    finally:
        assert hearth.stop() == 0


def _deployed(tmp_path: Path, examples: tuple[str, ...]) -> Iterator[tuple[Serve, dict[str, Path]]]:
    """A ``hearth serve`` with ``examples`` deployed, each under its own host (the folder's name)."""
    serve = Serve(tmp_path / "data")
    try:
        roots = {}
        for example in examples:
            root = roots[example] = tmp_path / example
            shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns("__pycache__"))
            (root / "hearth.toml").write_text(f'[gateway]\nhosts = ["{example}.test"]\n')
            output = serve.deploy(root)
            assert "created   vercel.json routing and static files" in output, output
        yield serve, roots
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, dict[str, Path]]]:
    yield from _deployed(tmp_path_factory.mktemp("served"), ("vercel-routing", "vercel-legacy"))


def _on_serve(served: tuple[Serve, dict[str, Path]], example: str) -> Iterator[tuple[httpx.Client, Path]]:
    serve, roots = served
    with httpx.Client(base_url=serve.process.gateway, timeout=30, follow_redirects=False,
                      headers={"Host": f"{example}.test"}) as client:
        yield client, roots[example]


@pytest.fixture(scope="module")
def routing_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    yield from _start(tmp_path_factory.mktemp("vercel"), "vercel-routing")


@pytest.fixture(scope="module")
def legacy_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    yield from _start(tmp_path_factory.mktemp("vercel"), "vercel-legacy")


@pytest.fixture(params=["dev", "serve"])
def routing(request: pytest.FixtureRequest) -> Iterator[tuple[httpx.Client, Path]]:
    if request.param == "dev":
        yield request.getfixturevalue("routing_dev")
    else:
        yield from _on_serve(request.getfixturevalue("served"), "vercel-routing")


@pytest.fixture(params=["dev", "serve"])
def legacy(request: pytest.FixtureRequest) -> Iterator[tuple[httpx.Client, Path]]:
    if request.param == "dev":
        yield request.getfixturevalue("legacy_dev")
    else:
        yield from _on_serve(request.getfixturevalue("served"), "vercel-legacy")


# --- examples/vercel-routing ---------------------------------------------------------------------------------


def test_static_files_are_served_with_etag_cache_control_and_the_header_rules(
        routing: tuple[httpx.Client, Path]) -> None:
    client, root = routing
    home = client.get("/")
    assert home.status_code == 200
    assert home.content == (root / "public" / "index.html").read_bytes()
    assert home.headers["content-type"] == "text/html; charset=utf-8"
    assert home.headers["cache-control"] == "public, max-age=0, must-revalidate"
    assert home.headers["x-content-type-options"] == "nosniff"  # headers rule "/(.*)"
    assert home.headers["x-amzn-requestid"]
    again = client.get("/", headers={"If-None-Match": home.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = client.head("/assets/site.css")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str((root / "public" / "assets" / "site.css").stat().st_size)
    assert head.headers["cache-control"] == "public, max-age=31536000, immutable"  # the rule replaces the default
    assert client.post("/assets/site.css").status_code == 405
    assert client.get("/vercel.json").status_code == 404  # configuration is never a static file


def test_clean_urls_and_trailing_slash_redirect_and_serve(routing: tuple[httpx.Client, Path]) -> None:
    client, root = routing
    about = client.get("/about")
    assert about.status_code == 200 and about.content == (root / "public" / "about.html").read_bytes()
    assert (client.get("/about.html").status_code, client.get("/about.html").headers["location"]) == (308, "/about")
    assert client.get("/docs").content == (root / "public" / "docs" / "index.html").read_bytes()
    slash = client.get("/docs/?tab=1")
    assert (slash.status_code, slash.headers["location"]) == (308, "/docs?tab=1")
    assert client.get("/api/hello.py").headers["location"] == "/api/hello"


def test_redirects_answer_with_their_status_and_keep_the_query(routing: tuple[httpx.Client, Path]) -> None:
    client, _ = routing
    moved = client.get("/old-blog/first?ref=mail")
    assert (moved.status_code, moved.headers["location"]) == (308, "/blog/first?ref=mail")
    assert (client.get("/home").status_code, client.get("/home").headers["location"]) == (307, "/")
    external = client.get("/source")
    assert (external.status_code, external.headers["location"]) == (302, "https://github.com/")
    assert client.get("/beta").headers["location"] == "/docs"  # "missing": no beta cookie
    with_cookie = client.get("/beta", headers={"Cookie": "beta=1"})
    assert with_cookie.status_code == 404 and "<h1>Nothing here</h1>" in with_cookie.text  # no redirect: 404 page


def test_functions_get_their_path_parameters_and_vercel_query_parameters(routing: tuple[httpx.Client, Path]) -> None:
    client, _ = routing
    user = client.get("/api/users/42?id=spoofed&full=1")
    assert user.status_code == 200, user.text
    assert user.json() == {"id": "42", "name": "user 42", "query": {"id": "42", "full": "1"}}
    assert user.headers["x-robots-tag"] == "noindex"
    assert client.get("/api").status_code == 200  # api/index.py
    assert client.get("/api/docs/a/b").json() == {"slug": ["a", "b"]}


def test_rewrites_serve_the_destination_and_the_function_sees_the_request_path(
        routing: tuple[httpx.Client, Path]) -> None:
    client, _ = routing
    user = client.get("/users/7")
    assert user.json()["id"] == "7" and user.headers["x-user-id"] == "7"
    assert client.get("/blog/hello-world").json() == {"slug": ["blog", "hello-world"]}
    assert client.get("/greet?name=ann").json()["message"] == "hello, ann!"
    assert client.get("/whoami", headers={"x-agent": "curl"}).json()["message"] == "hello, curl!"
    assert client.get("/whoami", headers={"x-agent": "NOT-LOWER"}).status_code == 404  # "has" value must match
    assert client.get("/resize/10/20").json()["query"] == {"width": "10", "height": "20"}


def test_a_path_nothing_serves_gets_the_404_page(routing: tuple[httpx.Client, Path]) -> None:
    client, root = routing
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.content == (root / "public" / "404.html").read_bytes()
    assert missing.headers["content-type"] == "text/html; charset=utf-8"


def test_new_static_files_and_vercel_json_edits_apply_without_a_restart(
        routing_dev: tuple[httpx.Client, Path]) -> None:
    client, root = routing_dev
    large = bytes(range(256)) * 4000 + b"end"  # ~1 MiB: streamed from disk in several chunks
    (root / "public" / "blob.bin").write_bytes(large)
    served = client.get("/blob.bin")
    assert served.status_code == 200 and served.headers["content-type"] == "application/octet-stream"
    assert hashlib.sha256(served.content).digest() == hashlib.sha256(large).digest()
    config = root / "vercel.json"
    original = config.read_text()
    try:
        config.write_text(original.replace('"redirects": [', '"redirects": [\n    { "source": "/moved", '
                                           '"destination": "/about", "permanent": true },'))
        assert poll(lambda: client.get("/moved").headers.get("location") == "/about", 10)
    finally:
        config.write_text(original)
    assert poll(lambda: client.get("/moved").status_code == 404, 10)


# --- examples/vercel-legacy ----------------------------------------------------------------------------------


def test_legacy_routes_apply_headers_redirects_and_captures(legacy: tuple[httpx.Client, Path]) -> None:
    client, _ = legacy
    old = client.get("/old")
    assert (old.status_code, old.headers["location"], old.headers["x-served-by"]) == (308, "/", "hearth")
    item = client.get("/items/5?a=1")
    assert item.json() == {"path": "/items/5", "query": {"item": "5", "a": "1"}}
    assert item.headers["x-served-by"] == "hearth"
    assert client.post("/items/5").json() == {"path": "/items/5", "query": {}}  # GET only: the catch-all serves it
    secret = client.get("/secret/plans")
    assert secret.status_code == 404 and secret.json()["errorType"] == "RouteStatus"


def test_legacy_filesystem_phase_serves_files_before_the_catch_all(legacy: tuple[httpx.Client, Path]) -> None:
    client, root = legacy
    robots = client.get("/robots.txt")
    assert robots.status_code == 200 and robots.content == (root / "public" / "robots.txt").read_bytes()
    assert robots.headers["x-served-by"] == "hearth"
    anything = client.get("/any/where?q=2")
    assert anything.json() == {"path": "/any/where", "query": {"q": "2"}}


# --- a rewrite to another origin ---------------------------------------------------------------------------


class _Origin(http.server.BaseHTTPRequestHandler):
    """Another origin: echoes what it received, streams /slow in two pieces."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self.rfile.read(int(self.headers.get("content-length", "0"))))

    def _answer(self, body: bytes) -> None:
        seen = {"path": self.path, "method": self.command, "host": self.headers["host"],
                "forwarded_host": self.headers.get("x-forwarded-host"), "body": body.decode()}
        data = json.dumps(seen).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-origin", "yes")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_rewrite_to_another_origin_is_forwarded_and_streamed_back(tmp_path: Path) -> None:
    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
    root = tmp_path / "proxy"
    (root / "api").mkdir(parents=True)
    (root / "api" / "hello.py").write_text("def handler(event, context):\n    return 'hi'\n")
    (root / "vercel.json").write_text(json.dumps({
        "rewrites": [{"source": "/ext/:path*", "destination": f"http://127.0.0.1:{origin.server_port}/v2/:path*"},
                     {"source": "/down", "destination": f"http://127.0.0.1:{closed.getsockname()[1]}/"},
                     {"source": "/gone", "destination": f"http://127.0.0.1:{origin.server_port}/old",
                      "statusCode": 410}],
        "headers": [{"source": "/ext/(.*)", "headers": [{"key": "X-Edge", "value": "hearth"}]}]}))
    hearth = HearthProcess(root, "--quiet").start()
    try:
        with httpx.Client(base_url=hearth.gateway, timeout=30) as client:
            reply = client.get("/ext/a/b?x=1", headers={"Host": "site.example"})
            assert reply.status_code == 201 and reply.headers["x-origin"] == "yes"
            assert reply.headers["x-edge"] == "hearth" and reply.headers["x-amzn-requestid"]
            assert reply.json() == {"path": "/v2/a/b?x=1", "method": "GET", "host": f"127.0.0.1:{origin.server_port}",
                                    "forwarded_host": "site.example", "body": ""}
            posted = client.post("/ext/form", content=b"name=ada")
            assert posted.json()["body"] == "name=ada" and posted.json()["method"] == "POST"
            gone = client.get("/gone")  # the rule's status replaces the origin's, its body streams as it came
            assert gone.status_code == 410 and gone.json()["path"] == "/old" and gone.headers["x-origin"] == "yes"
            down = client.get("/down")
            assert down.status_code == 502 and down.json()["errorType"] == "ExternalRewriteFailed"
    finally:
        assert hearth.stop() == 0
        origin.shutdown()
        origin.server_close()
        closed.close()
