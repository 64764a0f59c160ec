"""Events as the gateway builds them and responses as the gateway maps them, for the entry point adapters' tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import orjson

from hearth.config.settings import parse_networks
from hearth.gateway.events import build_event, map_result
from hearth.gateway.forwarded import Edge
from hearth.gateway.routes import Match
from hearth.model import RouteSpec

ANY_PATH = Match(RouteSpec("/{proxy+}", "f"), {})
BEHIND_A_TLS_TERMINATOR = Edge(parse_networks(["203.0.113.7"]))  # whose X-Forwarded-Proto: https is believed


def event(method: str = "GET", target: str = "/", headers: Sequence[tuple[str, str]] = (("host", "example.com"),),
          body: bytes = b"") -> dict[str, Any]:
    """The payload 2.0 event the gateway builds for this request (``target`` is the path and query as sent), as a
    gateway behind a trusted TLS terminator does (so an ``X-Forwarded-Proto`` header stands)."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http", "http_version": "1.1", "method": method, "scheme": "http", "path": unquote(path),
        "raw_path": target.encode("latin-1"), "query_string": query.encode("latin-1"),
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": ("203.0.113.7", 51234), "server": ("127.0.0.1", 8080),
    }
    BEHIND_A_TLS_TERMINATOR.resolve(scope)
    return build_event(scope, body, ANY_PATH, "req-1")


def respond(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """What the client gets for a function's result: status, headers (names lower case) and body."""
    status, headers, body = map_result(orjson.dumps(result))
    return status, [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers], body


def header(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key == name]
