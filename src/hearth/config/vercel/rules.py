"""vercel.json's routing rules: ``rewrites``, ``redirects``, ``headers`` and the legacy ``routes`` array, checked
and turned into the model's rules (``gateway/rewrites.py`` applies them). Sources and regexes are compiled here
too, so a bad one is reported while loading."""

from __future__ import annotations

import re
from typing import Any

from hearth.config.vercel.reader import VercelJson, obj, status_code, text
from hearth.gateway.rewrites import compile_regex_value, condition_params
from hearth.gateway.vercel_patterns import PatternError, compile_regex, compile_source
from hearth.model import CONDITION_TYPES, HeadersRule, LegacyRoute, RedirectRule, RewriteRule, RouteCondition

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REWRITE_KEYS = {"source", "destination", "has", "missing", "statusCode"}
REDIRECT_KEYS = {"source", "destination", "permanent", "statusCode", "has", "missing"}
HEADERS_KEYS = {"source", "headers", "has", "missing"}
ROUTE_KEYS = {"src", "source", "dest", "destination", "headers", "methods", "continue", "check", "status",
              "statusCode", "caseSensitive", "has", "missing"}
CONDITION_KEYS = {"type", "key", "value"}
HANDLES = {"filesystem", "hit", "miss", "rewrite", "error", "resource"}

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+\Z")
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer"})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DESTINATION_PARAM = re.compile(r":([A-Za-z0-9_]+)")


def _source(config: VercelJson, where: str, raw: dict[str, Any]) -> tuple[str, frozenset[str]]:
    source = text(config, where, raw, "source", '"/blog/:slug"')
    try:
        compiled = compile_source(source)
    except PatternError as exc:
        config.fail(f"{where}.source", str(exc))
    return source, compiled.names()


def _conditions(config: VercelJson, where: str, raw: dict[str, Any], key: str) -> tuple[RouteCondition, ...]:
    items = raw.get(key, [])
    if not isinstance(items, list):
        config.fail(f"{where}.{key}", 'must be an array, e.g. [{"type": "header", "key": "x-beta"}]')
    found = []
    for index, item in enumerate(items):
        at = f"{where}.{key}[{index}]"
        item = obj(config, at, item, CONDITION_KEYS)
        kind = item.get("type")
        if kind not in CONDITION_TYPES:
            config.fail(f"{at}.type", f"must be one of {', '.join(CONDITION_TYPES)}, got {kind!r}")
        name = item.get("key", "")
        if kind == "host":
            if "value" not in item:
                config.fail(f"{at}.value", 'required for a host condition, e.g. "(?<sub>.*)\\\\.example\\\\.com"')
            if "key" in item:
                config.fail(f"{at}.key", "a host condition has no key")
        elif not isinstance(name, str) or not name:
            config.fail(f"{at}.key", "required: the name of the header, cookie or query parameter")
        value = item.get("value")
        if isinstance(value, dict):
            config.fail(f"{at}.value", "condition objects (eq, pre, inc, …) are not supported; give a regular "
                                       "expression string")
        if value is not None:
            if not isinstance(value, str):
                config.fail(f"{at}.value", f"must be a regular expression string, got {value!r}")
            try:
                re.compile(compile_regex_value(value))
            except (re.error, PatternError) as exc:
                config.fail(f"{at}.value", f"not a valid regular expression: {exc}")
        found.append(RouteCondition(type=kind, key=name.lower() if kind == "header" else name, value=value))
    return tuple(found)


def _check_destination(config: VercelJson, where: str, destination: str, params: frozenset[str]) -> None:
    """Every ``:name`` the destination uses must be defined by the source or a condition (as Vercel checks)."""
    if _URL.match(destination):
        rest = destination.split("://", 1)[1]
        host, slash, after = rest.partition("/")
        text = host.rsplit(":", 1)[0] if re.search(r":\d+$", host) else host
        text += slash + after
    else:
        text = destination
    for name in _DESTINATION_PARAM.findall(text.split("#", 1)[0]):
        if name not in params:
            config.fail(f"{where}.destination", f"uses :{name}, which neither the source nor has defines")


def rewrite(config: VercelJson, where: str, raw: Any) -> RewriteRule:
    """One ``rewrites`` entry."""
    raw = obj(config, where, raw, REWRITE_KEYS)
    source, names = _source(config, where, raw)
    destination = text(config, where, raw, "destination", '"/api/:slug"')
    has = _conditions(config, where, raw, "has")
    _check_destination(config, where, destination, names | _condition_names(has))
    status = status_code(config, f"{where}.statusCode", raw["statusCode"]) if "statusCode" in raw else None
    return RewriteRule(source=source, destination=destination, has=has,
                       missing=_conditions(config, where, raw, "missing"), status=status)


def redirect(config: VercelJson, where: str, raw: Any) -> RedirectRule:
    """One ``redirects`` entry: ``permanent`` (308 or 307, default 308) or a 3xx ``statusCode``."""
    raw = obj(config, where, raw, REDIRECT_KEYS)
    source, names = _source(config, where, raw)
    destination = text(config, where, raw, "destination", '"/new/:slug" or "https://example.com/:slug"')
    has = _conditions(config, where, raw, "has")
    _check_destination(config, where, destination, names | _condition_names(has))
    if "permanent" in raw and "statusCode" in raw:
        config.fail(where, "give permanent or statusCode, not both")
    status = 308
    if "permanent" in raw:
        if not isinstance(raw["permanent"], bool):
            config.fail(f"{where}.permanent", f"must be true (308) or false (307), got {raw['permanent']!r}")
        status = 308 if raw["permanent"] else 307
    elif "statusCode" in raw:
        status = status_code(config, f"{where}.statusCode", raw["statusCode"], (300, 399))
    return RedirectRule(source=source, destination=destination, status=status, has=has,
                        missing=_conditions(config, where, raw, "missing"))


def headers_rule(config: VercelJson, where: str, raw: Any) -> HeadersRule:
    """One ``headers`` entry."""
    raw = obj(config, where, raw, HEADERS_KEYS)
    source, _ = _source(config, where, raw)
    items = raw.get("headers")
    if not isinstance(items, list) or not items:
        config.fail(f"{where}.headers", 'required: an array such as [{"key": "Cache-Control", "value": "no-store"}]')
    headers = []
    for index, item in enumerate(items):
        at = f"{where}.headers[{index}]"
        item = obj(config, at, item, {"key", "value"})
        name, value = item.get("key"), item.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            config.fail(at, 'needs a string "key" and a string "value"')
        headers.append(_header(config, at, name, value))
    return HeadersRule(source=source, headers=tuple(headers), has=_conditions(config, where, raw, "has"),
                       missing=_conditions(config, where, raw, "missing"))


def _header(config: VercelJson, where: str, name: str, value: str) -> tuple[str, str]:
    if not _HEADER_NAME.match(name):
        config.fail(where, f"{name!r} is not an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)")
    if name.lower() in _FRAMING:
        config.fail(where, f"{name!r} frames the HTTP message and is set by the gateway; remove it")
    if any(ord(c) > 255 or (ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        config.fail(where, f"the value of {name!r} has a character HTTP cannot carry (a control character or one "
                           "outside Latin-1); percent-encode it")
    return name, value


def _condition_names(conditions: tuple[RouteCondition, ...]) -> frozenset[str]:
    return frozenset(condition_params(conditions))


def legacy_routes(config: VercelJson, items: list[Any]) -> tuple[LegacyRoute, ...]:
    """The legacy ``routes`` array; routes in a phase Hearth does not run are left out and named."""
    found: list[LegacyRoute] = []
    phase: str | None = None
    seen: set[str] = set()
    for index, raw in enumerate(items):
        where = f"routes[{index}]"
        if isinstance(raw, dict) and "handle" in raw:
            handle = raw["handle"]
            if handle not in HANDLES or len(raw) != 1:
                config.fail(where, f"a handle route is only {{\"handle\": …}} with one of {', '.join(sorted(HANDLES))}")
            if handle in seen:
                config.fail(where, f"handle {handle!r} appears twice; use each phase at most once")
            seen.add(handle)
            phase = handle
            if handle == "filesystem":
                found.append(LegacyRoute(handle="filesystem"))
            continue
        route = _legacy_route(config, where, raw)
        if phase in (None, "filesystem"):
            found.append(route)
        else:
            config.ignored.append(f"{where} (in the {phase!r} phase, which Hearth does not run)")
    return tuple(found)


def _legacy_route(config: VercelJson, where: str, raw: Any) -> LegacyRoute:
    raw = obj(config, where, raw, ROUTE_KEYS)

    def alias(first: str, second: str) -> Any:
        """``raw[first]`` or ``raw[second]`` (Vercel accepts either spelling), never both."""
        if first in raw and second in raw:
            config.fail(where, f"give {first} or {second}, not both")
        return raw.get(first, raw.get(second))

    src = alias("src", "source")
    if not isinstance(src, str) or not src:
        config.fail(f"{where}.src", 'required: a regular expression such as "/api/(.*)"')
    case_sensitive = raw.get("caseSensitive", False)
    if not isinstance(case_sensitive, bool):
        config.fail(f"{where}.caseSensitive", "must be true or false")
    try:
        compile_regex(src, case_sensitive=case_sensitive)  # to report a bad one now; the router compiles its own
    except PatternError as exc:
        config.fail(f"{where}.src", str(exc))
    dest = alias("dest", "destination")
    if dest is not None and (not isinstance(dest, str) or not dest):
        config.fail(f"{where}.dest", 'must be a path such as "/api/main.py?x=$1" or a URL')
    status = alias("status", "statusCode")
    if status is not None:
        status = status_code(config, f"{where}.status", status)
    headers_raw = raw.get("headers", {})
    if not isinstance(headers_raw, dict) or not all(isinstance(value, str) for value in headers_raw.values()):
        config.fail(f"{where}.headers", 'must be an object of strings, e.g. {"Cache-Control": "no-store"}')
    headers = tuple(_header(config, f"{where}.headers", name, value) for name, value in headers_raw.items())
    methods = raw.get("methods")
    if methods is not None:
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
            config.fail(f"{where}.methods", 'must be a non-empty array such as ["GET", "POST"]')
        methods = frozenset(method.upper() for method in methods)
        bad = sorted(methods - HTTP_METHODS)
        if bad:
            config.fail(f"{where}.methods", f"unknown method {bad[0]!r}; allowed: {', '.join(sorted(HTTP_METHODS))}")
    flags = {}
    for key in ("continue", "check"):
        flags[key] = raw.get(key, False)
        if not isinstance(flags[key], bool):
            config.fail(f"{where}.{key}", "must be true or false")
    return LegacyRoute(src=src, dest=dest, headers=headers, status=status, methods=methods,
                       continue_=flags["continue"], check=flags["check"], case_sensitive=case_sensitive,
                       has=_conditions(config, where, raw, "has"), missing=_conditions(config, where, raw, "missing"))
