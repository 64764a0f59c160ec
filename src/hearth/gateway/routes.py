"""The gateway's route table: method + path pattern → route, with API Gateway's precedence.

Patterns are ``/static/{param}/…`` with an optional trailing greedy ``{name+}``. Like API Gateway HTTP APIs, the
most specific route wins: an exact path first, then routes with more static segments, greedy routes last; for
the same path a route with more header conditions (``match_headers``) is tried first, and a route naming the method
beats one that accepts any method. A route with header conditions matches only requests that have each header with
exactly its value (several values of one header are joined with ``,``).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hearth.model import RouteSpec

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$")
_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}")  # what unquote decodes; a "%" without two hex digits stays itself


@dataclass(frozen=True, slots=True)
class Match:
    route: RouteSpec
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Compiled:
    route: RouteSpec
    regex: re.Pattern[str]
    rank: tuple[int, int, int, int, int]


def _normalise(path: str) -> str:
    if len(path) > 1 and path.endswith("/"):
        return path.rstrip("/") or "/"
    return path


def _compile(route: RouteSpec) -> _Compiled:
    segments = [s for s in route.path.split("/") if s]
    parts: list[str] = []
    static = 0
    greedy = 0
    for segment in segments:
        match = _PARAM.match(segment)
        if match is None:
            parts.append("/" + re.escape(segment))
            static += 1
        elif match.group(2):
            parts.append(f"/(?P<{match.group(1)}>.+)")
            greedy = 1
        else:
            parts.append(f"/(?P<{match.group(1)}>[^/]+)")
    regex = re.compile("^" + ("".join(parts) or "/") + "$")
    any_method = 1 if route.methods is None else 0
    return _Compiled(route, regex, (greedy, -static, -len(segments), -len(route.match_headers), any_method))


def _has_headers(route: RouteSpec, headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether the request ``headers`` satisfy every one of the route's header conditions."""
    for name, wanted in route.match_headers:
        raw_name = name.encode("latin-1")
        values = [value for key, value in headers if key.lower() == raw_name]
        if not values or b",".join(values).decode("latin-1") != wanted:
            return False
    return True


class RouteTable:
    """Matches requests to routes; built once per manifest load, read-only afterwards."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        self.routes = tuple(routes)
        self._static: dict[str, list[RouteSpec]] = {}
        dynamic: list[_Compiled] = []
        for route in self.routes:
            if "{" in route.path:
                dynamic.append(_compile(route))
            else:
                self._static.setdefault(_normalise(route.path), []).append(route)
        for candidates in self._static.values():
            candidates.sort(key=lambda r: (-len(r.match_headers), r.methods is None))  # conditions, methods first
        self._dynamic = sorted(dynamic, key=lambda c: c.rank)
        # Routes whose first segment is static are tried only for paths with that first segment: 2,000
        # parameterised routes cost one dict lookup, not 2,000 regular expressions. Each bucket keeps precedence
        # order; ``_anywhere`` (a parameter first) is merged into it by position in ``_dynamic``.
        self._by_first: dict[str, list[tuple[int, _Compiled]]] = {}
        self._anywhere: list[tuple[int, _Compiled]] = []
        for position, compiled in enumerate(self._dynamic):
            first = next(segment for segment in compiled.route.path.split("/") if segment)
            if _PARAM.match(first):
                self._anywhere.append((position, compiled))
            else:
                self._by_first.setdefault(first, []).append((position, compiled))

    def match(self, method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> Match | None:
        """The route for ``method path`` (with the request's ``headers`` for header conditions) and its path
        parameters, or None."""
        path = _normalise(path)
        candidates = self._static.get(path)
        if candidates:
            for route in candidates:
                if (route.methods is None or method in route.methods) and (
                        not route.match_headers or _has_headers(route, headers)):
                    return Match(route, {})
        for _, compiled in self._candidates(path):
            found = compiled.regex.match(path)
            if found is not None:
                route = compiled.route
                if (route.methods is None or method in route.methods) and (
                        not route.match_headers or _has_headers(route, headers)):
                    return Match(route, found.groupdict())
        return None

    def _candidates(self, path: str) -> Iterable[tuple[int, _Compiled]]:
        """The parameterised routes that could match ``path``, in precedence order."""
        bucket = self._by_first.get(path.split("/", 2)[1]) if path.startswith("/") else None
        if bucket is None:
            return self._anywhere
        if not self._anywhere:
            return bucket
        return heapq.merge(bucket, self._anywhere, key=lambda item: item[0])


def strip_prefix(scope: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The ASGI ``scope`` as a function behind a route with ``strip_prefix`` sees it: ``path`` without the
    prefix (``/v1/users/7`` → ``/users/7``; the prefix alone → ``/``), and ``raw_path`` without the leading bytes
    that spell the prefix, so the rest keeps the client's own percent-encoding and still decodes to the new ``path``.

    Routes match the decoded path, as API Gateway's do, so the prefix goes wherever the decoded path has it, however
    the client encoded it: under the prefix ``/v1/shop``, ``/v1%2Fshop/x`` arrives as ``/x``, as ``/v1/shop/x``
    does. An encoded ``/`` (``%2F``) counts as the ``/`` it decodes to: right after the prefix it becomes the
    leading ``/`` (``/v1/a%2Fb/c`` under ``/v1/a`` → ``/b/c``); past the prefix it stays as sent (``/v1/a%2Fb``
    under ``/v1`` → raw ``/a%2Fb``, path ``/a/b``). A path without the prefix is left alone.
    """
    path = scope["path"]
    if path != prefix and not path.startswith(prefix + "/"):
        return scope
    rest = path[len(prefix):] or "/"
    stripped = dict(scope, path=rest)
    raw = scope.get("raw_path")
    if raw:
        stripped["raw_path"] = _strip_raw(raw, prefix.encode()) or quote(rest).encode("ascii")
    return stripped


def _strip_raw(raw: bytes, prefix: bytes) -> bytes | None:
    """``raw`` without its leading bytes that percent-decode to ``prefix``, as a path (starting with ``/``); None
    when they do not (bytes the server decoded as replacement characters: the caller encodes ``path`` instead)."""
    at = 0
    for wanted in prefix:
        if _ESCAPE.match(raw, at):
            byte, at = int(raw[at + 1:at + 3], 16), at + 3
        elif at < len(raw):
            byte, at = raw[at], at + 1
        else:
            return None
        if byte != wanted:
            return None
    rest = raw[at:]
    if not rest:
        return b"/"
    if rest[:1] == b"/":
        return rest
    if rest[:3] in (b"%2F", b"%2f"):
        return b"/" + rest[3:]
    return None
