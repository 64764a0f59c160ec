"""The gateway's route table: method + path pattern → route, with API Gateway's precedence.

Patterns are ``/static/{param}/…`` with an optional trailing greedy ``{name+}``. Like API Gateway HTTP APIs, the
most specific route wins: an exact path first, then routes with more static segments, greedy routes last; for
the same path a route naming the method beats one that accepts any method.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hearth.model import RouteSpec

_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$")


@dataclass(frozen=True, slots=True)
class Match:
    route: RouteSpec
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Compiled:
    route: RouteSpec
    regex: re.Pattern[str]
    rank: tuple[int, int, int, int]


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
    return _Compiled(route, regex, (greedy, -static, -len(segments), any_method))


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
            candidates.sort(key=lambda r: r.methods is None)  # method-specific first
        self._dynamic = sorted(dynamic, key=lambda c: c.rank)

    def match(self, method: str, path: str) -> Match | None:
        """The route for ``method path`` and its path parameters, or None."""
        path = _normalise(path)
        candidates = self._static.get(path)
        if candidates:
            for route in candidates:
                if route.methods is None or method in route.methods:
                    return Match(route, {})
        for compiled in self._dynamic:
            found = compiled.regex.match(path)
            if found is not None:
                methods = compiled.route.methods
                if methods is None or method in methods:
                    return Match(compiled.route, found.groupdict())
        return None
