"""Vercel's ``class handler(BaseHTTPRequestHandler)``: run per request on the event, its output parsed back."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest
from entry_events import event, header, respond

from hearth import errors
from hearth.runtimes.python.entry.http_handler import HttpHandlerAdapter, parse_response


class hello(BaseHTTPRequestHandler):  # noqa: N801  # Vercel's docs name the class ``handler``
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-type", "text/plain")
        self.end_headers()
        self.wfile.write("Hello, world!".encode("utf-8"))  # noqa: UP012  # as Vercel's docs write it


class echo(BaseHTTPRequestHandler):  # noqa: N801
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = json.dumps({
            "path": self.path, "command": self.command, "body": body.decode(), "client": self.client_address[0],
            "cookie": self.headers["Cookie"], "type": self.headers["Content-Type"], "server": self.server.server_name,
        }).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Set-Cookie", "session=abc; HttpOnly")
        self.send_header("Set-Cookie", "theme=dark")
        self.send_header("X-Multi", "one")
        self.send_header("X-Multi", "two")
        self.end_headers()
        self.wfile.write(answer)


def test_vercels_hello_world(capsys: pytest.CaptureFixture[str]) -> None:
    status, headers, body = respond(HttpHandlerAdapter(hello)(event("GET", "/api"), None))
    assert (status, body) == (200, b"Hello, world!")
    assert header(headers, "content-type") == ["text/plain"]
    assert header(headers, "server")[0].startswith("BaseHTTP/")  # what the handler wrote, as a server sends it
    assert '"GET /api HTTP/1.1" 200 -' in capsys.readouterr().err  # http.server's access log line


def test_post_body_headers_and_cookies() -> None:
    made = event("POST", "/api/echo?a=1&b=two", [("host", "example.com"), ("content-type", "application/json"),
                                                  ("cookie", "a=1"), ("cookie", "b=2")], b'{"x": 1}')
    response = HttpHandlerAdapter(echo)(made, None)
    assert response["cookies"] == ["session=abc; HttpOnly", "theme=dark"]
    assert response["headers"]["x-multi"] == "one, two" and "content-length" not in response["headers"]
    status, headers, body = respond(response)
    assert status == 201
    assert json.loads(body) == {"path": "/api/echo?a=1&b=two", "command": "POST", "body": '{"x": 1}',
                                "client": "203.0.113.7", "cookie": "a=1; b=2", "type": "application/json",
                                "server": "example.com"}
    assert header(headers, "set-cookie") == ["session=abc; HttpOnly", "theme=dark"]


def test_a_method_without_do_method_is_501_as_in_the_stdlib() -> None:
    status, headers, body = respond(HttpHandlerAdapter(hello)(event("DELETE", "/api"), None))
    assert status == 501 and b"Unsupported method ('DELETE')" in body
    assert header(headers, "content-type") == ["text/html;charset=utf-8"]


def test_binary_bodies_both_ways() -> None:
    class raw(BaseHTTPRequestHandler):  # noqa: N801
        def do_PUT(self) -> None:
            data = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(data[::-1])

    payload = bytes(range(256))
    made = event("PUT", "/bin", [("host", "h"), ("content-type", "application/octet-stream")], payload)
    response = HttpHandlerAdapter(raw)(made, None)
    assert response["isBase64Encoded"] is True
    assert respond(response)[2] == payload[::-1]


def test_a_handler_that_writes_nothing_is_a_malformed_response() -> None:
    class silent(BaseHTTPRequestHandler):  # noqa: N801
        def do_GET(self) -> None:
            pass

    with pytest.raises(errors.MalformedProxyResponse, match="wrote no response"):
        HttpHandlerAdapter(silent)(event(), None)


def test_an_exception_in_the_handler_is_the_invocations_error() -> None:
    class broken(BaseHTTPRequestHandler):  # noqa: N801
        def do_GET(self) -> None:
            raise ValueError("no such user")

    with pytest.raises(ValueError, match="no such user"):
        HttpHandlerAdapter(broken)(event(), None)


def test_class_state_lasts_between_requests() -> None:
    class counter(BaseHTTPRequestHandler):  # noqa: N801
        calls = 0

        def do_GET(self) -> None:
            type(self).calls += 1
            self.send_response(200)
            self.end_headers()
            self.wfile.write(str(self.calls).encode())

    adapter = HttpHandlerAdapter(counter)
    assert [adapter(event(), None)["body"] for _ in range(3)] == ["1", "2", "3"]
    assert adapter.handler_class.__name__ == "counter"


def test_response_framing() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Long: a\r\n b\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
    assert parse_response(chunked)["body"] == "hello world"
    assert parse_response(chunked)["headers"] == {"x-long": "a b"}
    assert parse_response(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")["body"] == "ok"
    assert parse_response(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")["statusCode"] == 204
    with pytest.raises(errors.MalformedProxyResponse, match="began b'hello'"):
        parse_response(b"hello")
