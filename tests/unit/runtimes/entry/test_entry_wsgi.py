"""WSGI apps (Flask, and a raw PEP 3333 app) served from API Gateway 2.0 events."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from entry_events import event, header, respond
from flask import Flask, jsonify, make_response, redirect, request

from hearth import errors
from hearth.runtimes.python.entry.wsgi import WsgiAdapter

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
StartResponse = Callable[..., Callable[[bytes], None]]


def flask_app() -> Flask:
    app = Flask("hearth_test_flask")

    @app.route("/")
    def hello_world() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.route("/old")
    def old() -> Any:
        return redirect("/new", code=301)

    @app.post("/users/<int:user_id>")
    def create(user_id: int) -> Any:
        return jsonify(id=user_id, got=request.get_json(), args=request.args.to_dict(flat=False),
                       cookie=request.cookies.get("session"), url=request.url), 201

    @app.route("/logo.png")
    def logo() -> Any:
        response = make_response(PNG)
        response.headers["Content-Type"] = "image/png"
        return response

    @app.route("/login", methods=["POST"])
    def login() -> Any:
        response = make_response("welcome")
        response.set_cookie("session", "abc", httponly=True)
        response.set_cookie("theme", "dark")
        return response

    @app.route("/upload", methods=["PUT"])
    def upload() -> Any:
        return {"size": len(request.get_data()), "sum": sum(request.get_data())}

    return app


@pytest.fixture(scope="module")
def flask() -> WsgiAdapter:
    return WsgiAdapter(flask_app())


def test_flask_json(flask: WsgiAdapter) -> None:
    status, headers, body = respond(flask(event("GET", "/"), None))
    assert status == 200 and json.loads(body) == {"message": "Hello, World!"}
    assert header(headers, "content-type") == ["application/json"]


def test_flask_redirect(flask: WsgiAdapter) -> None:
    status, headers, _ = respond(flask(event("GET", "/old"), None))
    assert status == 301 and header(headers, "location") == ["/new"]


def test_flask_json_body_path_params_query_and_cookies(flask: WsgiAdapter) -> None:
    made = event("POST", "/users/7?tag=a&tag=b", [("host", "api.example.com"), ("content-type", "application/json"),
                                                   ("x-forwarded-proto", "https"), ("cookie", "session=s1")],
                 b'{"name": "ada"}')
    status, _, body = respond(flask(made, None))
    assert status == 201
    assert json.loads(body) == {"id": 7, "got": {"name": "ada"}, "args": {"tag": ["a", "b"]}, "cookie": "s1",
                                "url": "https://api.example.com/users/7?tag=a&tag=b"}


def test_flask_binary_response(flask: WsgiAdapter) -> None:
    response = flask(event("GET", "/logo.png"), None)
    assert response["isBase64Encoded"] is True
    status, headers, body = respond(response)
    assert (status, body) == (200, PNG) and header(headers, "content-type") == ["image/png"]


def test_flask_binary_request(flask: WsgiAdapter) -> None:
    made = event("PUT", "/upload", [("host", "h"), ("content-type", "application/octet-stream")], PNG)
    assert made["isBase64Encoded"] is True
    assert json.loads(respond(flask(made, None))[2]) == {"size": len(PNG), "sum": sum(PNG)}


def test_flask_sets_several_cookies(flask: WsgiAdapter) -> None:
    response = flask(event("POST", "/login"), None)
    assert response["cookies"] == ["session=abc; HttpOnly; Path=/", "theme=dark; Path=/"]
    _, headers, body = respond(response)
    assert body == b"welcome" and len(header(headers, "set-cookie")) == 2


def test_flask_not_found(flask: WsgiAdapter) -> None:
    assert respond(flask(event("GET", "/nowhere"), None))[0] == 404


class Recorder:
    """A raw PEP 3333 app: answers with what it saw, as an iterable that records its ``close()``."""

    def __init__(self) -> None:
        self.closed = 0
        self.environ: dict[str, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        self.environ = environ
        seen = {key: value for key, value in environ.items() if isinstance(value, str | tuple | bool)}
        seen["body"] = environ["wsgi.input"].read().decode()
        write = start_response("200 OK", [("Content-Type", "application/json"), ("X-A", "1"), ("X-A", "2")])
        write(b"[")
        try:
            yield b""
            yield json.dumps(seen).encode()
            yield b"]"
        finally:
            self.closed += 1


def test_a_raw_wsgi_app_gets_a_servers_environ() -> None:
    app = Recorder()
    made = event("POST", "/caf%C3%A9/a%2Fb?q=%C3%A9&x", [
        ("host", "example.com:8443"), ("content-type", "text/plain"), ("x-forwarded-proto", "https"),
        ("x-custom", "v1"), ("x-custom", "v2"), ("cookie", "a=1")], b"hello")
    response = WsgiAdapter(app)(made, {"context": True})
    assert app.closed == 1  # the iterable's close() ran
    assert response["headers"]["x-a"] == "1, 2"
    seen = json.loads(response["body"])[0]
    assert seen["REQUEST_METHOD"] == "POST" and seen["SCRIPT_NAME"] == ""
    assert seen["PATH_INFO"] == "/caf\u00c3\u00a9/a/b"  # decoded, as bytes in a native (latin-1) string
    assert seen["PATH_INFO"].encode("latin-1").decode() == "/caf\u00e9/a/b"
    assert seen["QUERY_STRING"] == "q=%C3%A9&x"
    assert seen["SERVER_NAME"] == "example.com" and seen["SERVER_PORT"] == "8443"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1" and seen["REMOTE_ADDR"] == "203.0.113.7"
    assert seen["CONTENT_TYPE"] == "text/plain" and seen["CONTENT_LENGTH"] == "5" and seen["body"] == "hello"
    assert "HTTP_CONTENT_TYPE" not in seen and "HTTP_CONTENT_LENGTH" not in seen
    assert seen["HTTP_X_CUSTOM"] == "v1,v2" and seen["HTTP_COOKIE"] == "a=1" and seen["HTTP_HOST"] == "example.com:8443"
    assert seen["wsgi.url_scheme"] == "https" and seen["wsgi.version"] == [1, 0]
    assert seen["wsgi.multithread"] is False and seen["wsgi.run_once"] is False
    assert app.environ["wsgi.errors"] is sys.stderr and isinstance(app.environ["wsgi.input"], io.BytesIO)
    assert app.environ["aws.event"] is made and app.environ["aws.context"] == {"context": True}


def test_start_response_with_exc_info_replaces_the_head_until_the_body_starts() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("lost")
        except KeyError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"sorry"]

    status, _, body = respond(WsgiAdapter(app)(event(), None))
    assert (status, body) == (500, b"sorry")

    def late(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        try:
            raise KeyError("lost")
        except KeyError:
            start_response("500 Internal Server Error", [], sys.exc_info())  # the head has gone: re-raised

    with pytest.raises(KeyError, match="lost"):
        WsgiAdapter(late)(event(), None)


def test_a_second_start_response_without_exc_info_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        return []

    with pytest.raises(RuntimeError, match="second time"):
        WsgiAdapter(app)(event(), None)


def test_an_app_that_never_starts_a_response() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return []

    with pytest.raises(errors.MalformedProxyResponse, match="without calling start_response"):
        WsgiAdapter(app)(event(), None)

    def bad_status(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("OK", [])
        return []

    with pytest.raises(errors.MalformedProxyResponse, match="three-digit"):
        WsgiAdapter(bad_status)(event(), None)
