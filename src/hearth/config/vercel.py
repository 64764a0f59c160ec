"""Load a Vercel project (``api/`` and ``vercel.json``, no ``hearth.toml``) into a ``Project``.

Functions: every ``api/**/*.py`` is one function, except files and folders whose name starts with ``_`` or ``.``
(shared code they import) and ``node_modules``. Its handler is the file's path (``handler = "api/users/[id].py"``)
and its route the path without ``.py``:

- ``api/user.py`` → ``/api/user``; ``api/index.py`` → ``/api`` (an ``index`` file answers for its folder);
- ``[name]`` (a file or a folder) is one path segment: ``api/users/[id].py`` → ``/api/users/{id}``;
- ``[...name]`` (last) is one or more segments: ``api/docs/[...slug].py`` → ``/api/docs/{slug+}``;
- ``[[...name]]`` (last) is zero or more: ``/api/docs`` and ``/api/docs/{slug+}`` (Next.js's optional catch-all).

Vercel's own ``api/`` routing has neither catch-all; Hearth adds both. Precedence is Vercel's: a static path before
a dynamic one (more static segments first), catch-alls last (``gateway/routes.py`` ranks them so). Two files that
answer the same paths, or that name the same segment differently (``api/[a]/x.py`` and ``api/[b]/y.py``), are an
error, as on Vercel. Parameter names are Python identifiers.

Function names depend only on the file's own path, so adding or removing files never renames another: the path
without ``.py``, ``/`` becoming ``-``, a ``-`` within a name doubled (``--``), ``[id]`` → ``_id``, ``[...slug]`` →
``__slug``, ``[[...slug]]`` → ``___slug`` (``api/users/[id].py`` → ``api-users-_id``, ``api/get-user.py`` →
``api-get--user``). A path this cannot spell within Lambda's 64 characters of ``[A-Za-z0-9_-]`` (other characters,
a name starting or ending with ``-``, too long) gets a readable prefix and the first 8 hex digits of the path's
SHA-256 (``api/hello world.py`` → ``api-hello-world-0c5d…``); the load fails if two names still collide.

vercel.json: ``rewrites``, ``redirects``, ``headers``, ``routes`` (legacy; not with the other four nor
``cleanUrls``/``trailingSlash``), ``cleanUrls``, ``trailingSlash``, ``functions`` (glob → ``memory``,
``maxDuration``, ``includeFiles``, ``excludeFiles``), ``crons``, ``env`` (legacy: variables for every function),
``outputDirectory`` and ``public``. Defaults are Vercel's: 1024 MB and 10 s. Static files come from
``outputDirectory``, else ``public/`` when it exists, else the project root (``gateway/static.py`` hides the
project's code there). A key Hearth does not support is named in one warning (logger ``hearth.config``) rather
than silently ignored; a wrong type, a bad pattern or invalid JSON is a ``ConfigError`` naming the file and key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from hearth.errors import ConfigError
from hearth.gateway.rewrites import compile_regex_value, condition_params
from hearth.gateway.vercel_patterns import PatternError, compile_regex, compile_source
from hearth.model import (
    CONDITION_TYPES,
    FUNCTION_NAME,
    MEMORY_MB_RANGE,
    CronJob,
    FunctionSpec,
    HeadersRule,
    LegacyRoute,
    Project,
    RedirectRule,
    RewriteRule,
    RouteCondition,
    RouteSpec,
    VercelRouting,
)

log = logging.getLogger("hearth.config")

CONFIG_NAME = "vercel.json"
API_DIR = "api"
PUBLIC_DIR = "public"
DEFAULT_MEMORY_MB = 1024  # Vercel's defaults, not Lambda's
DEFAULT_TIMEOUT_S = 10
MAX_DURATION_RANGE = (1, 900)
STATUS_RANGE = (100, 999)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

TOP_KEYS = {"rewrites", "redirects", "headers", "routes", "cleanUrls", "trailingSlash", "functions", "crons", "env",
            "outputDirectory", "public", "$schema"}
REWRITE_KEYS = {"source", "destination", "has", "missing", "statusCode"}
REDIRECT_KEYS = {"source", "destination", "permanent", "statusCode", "has", "missing"}
HEADERS_KEYS = {"source", "headers", "has", "missing"}
ROUTE_KEYS = {"src", "source", "dest", "destination", "headers", "methods", "continue", "check", "status",
              "statusCode", "caseSensitive", "has", "missing"}
FUNCTION_KEYS = {"memory", "maxDuration", "includeFiles", "excludeFiles"}
CRON_KEYS = {"path", "schedule"}
CONDITION_KEYS = {"type", "key", "value"}
HANDLES = {"filesystem", "hit", "miss", "rewrite", "error", "resource"}
MIXED = ("rewrites", "redirects", "headers", "cleanUrls", "trailingSlash")
OTHER_RUNTIMES = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".tsx", ".jsx", ".go", ".rb", ".rs")

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEGMENT = re.compile(r"^\[\[\.\.\.(?P<optional>[^\]]*)\]\]$|^\[\.\.\.(?P<rest>[^\]]*)\]$|^\[(?P<param>[^\]]*)\]$")
_READABLE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$")
_CRON_FIELD = re.compile(r"^[A-Za-z0-9*,/-]+$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DESTINATION_PARAM = re.compile(r":([A-Za-z0-9_]+)")


def is_vercel_project(root: Path) -> bool:
    """Whether ``root`` has a Vercel layout: a ``vercel.json`` or an ``api/`` folder."""
    return (root / CONFIG_NAME).is_file() or (root / API_DIR).is_dir()


class _Config:
    """vercel.json's text, for errors that name the file and key, and the keys Hearth leaves out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ignored: list[str] = []

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(f"{self.path}: {key}: {problem}")

    def unsupported(self, where: str, raw: dict[str, Any], allowed: set[str]) -> None:
        prefix = f"{where}." if where else ""
        self.ignored.extend(prefix + key for key in raw if key not in allowed)


def load_vercel_project(root: Path) -> Project:
    """The project a Vercel layout declares; raises ``ConfigError``, warns once about what it leaves out."""
    root = root.resolve()
    path = root / CONFIG_NAME
    config = _Config(path)
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"{path}: cannot read it as UTF-8 text: {exc}") from None
        if not isinstance(data, dict):
            config.fail("(top level)", "must be a JSON object, e.g. {\"rewrites\": []}")
    config.unsupported("", data, TOP_KEYS)
    mixed = [key for key in MIXED if key in data]
    if "routes" in data and mixed:
        config.fail("routes", f"cannot be used with {', '.join(mixed)} (Vercel refuses the mix); move the legacy "
                              "routes into rewrites, redirects and headers, or drop the other keys")
    routing = VercelRouting(
        redirects=tuple(_redirect(config, f"redirects[{i}]", raw) for i, raw in enumerate(_array(config, data,
                                                                                                   "redirects"))),
        headers=tuple(_headers(config, f"headers[{i}]", raw) for i, raw in enumerate(_array(config, data, "headers"))),
        rewrites=tuple(_rewrite(config, f"rewrites[{i}]", raw) for i, raw in enumerate(_array(config, data,
                                                                                                 "rewrites"))),
        routes=_routes(config, _array(config, data, "routes")),
        clean_urls=_boolean(config, data, "cleanUrls", False),
        trailing_slash=_optional_boolean(config, data, "trailingSlash"),
    )
    _boolean(config, data, "public", False)  # Vercel: source and logs visible to anyone; nothing to show here
    env = _env(config, data.get("env", {}))
    settings = _function_settings(config, data.get("functions", {}))
    files, others = _api_files(root)
    config.ignored.extend(f"{name} (only Python functions run on Hearth)" for name in others)
    functions: dict[str, FunctionSpec] = {}
    routes: list[tuple[tuple[int, int, str], RouteSpec]] = []
    used: set[str] = set()
    owners: dict[str, str] = {}
    for relative in files:
        name = function_name(relative)
        if name in owners:
            raise ConfigError(f"{root / relative}: its function name {name!r} is also the name of "
                              f"{owners[name]}; rename one of the files")
        owners[name] = relative
        pattern, memory_mb, timeout_s = _settings_for(relative, settings)
        if pattern is not None:
            used.add(pattern)
        functions[name] = FunctionSpec(name=name, handler=relative, code_dir=root, runtime="python",
                                       memory_mb=memory_mb, timeout_s=timeout_s, env=dict(env))
        for route_path in api_routes(relative, root):
            routes.append((_rank(route_path), RouteSpec(path=route_path, function=name)))
    unused = [pattern for pattern in settings if pattern not in used]
    if unused:
        config.fail(f"functions.{unused[0]}", "matches no Python file under api/ (a pattern names files relative "
                                              "to the project folder, e.g. \"api/*.py\" or \"api/**/*.py\")")
    _check_conflicts(root, [(route.path, owners[route.function]) for _, route in routes])
    if config.ignored:
        log.warning("%s: not supported by Hearth and ignored: %s", path if path.is_file() else root,
                    "; ".join(config.ignored))
    return Project(
        root=root,
        functions=functions,
        routes=tuple(route for _, route in sorted(routes, key=lambda item: item[0])),
        manifest=path,
        layout="vercel",
        routing=routing,
        static_dir=_static_dir(config, root, data.get("outputDirectory")),
        crons=tuple(_cron(config, f"crons[{i}]", raw) for i, raw in enumerate(_array(config, data, "crons"))),
    )


# --- api/ ------------------------------------------------------------------------------------------------------


def _api_files(root: Path) -> tuple[list[str], list[str]]:
    """The Python files under api/ that are functions, and the other runtimes' files (relative, sorted)."""
    python: list[str] = []
    others: list[str] = []
    api = root / API_DIR
    if not api.is_dir():
        return python, others
    for directory, folders, names in os.walk(api):
        folders[:] = sorted(name for name in folders if not name.startswith(("_", ".")) and name != "node_modules")
        for name in sorted(names):
            if name.startswith(("_", ".")):
                continue
            relative = Path(directory, name).relative_to(root).as_posix()
            if name.endswith(".py"):
                python.append(relative)
            elif name.endswith(OTHER_RUNTIMES) and not name.endswith(".d.ts") and not name.endswith("_test.go"):
                others.append(relative)
    return sorted(python), sorted(others)


def _parse_segments(relative: str, root: Path) -> list[tuple[str, str]]:
    """``(kind, text)`` per path segment of a function file: literal, param, rest (catch-all) or optional."""
    parts = PurePosixPath(relative[:-len(".py")]).parts
    found: list[tuple[str, str]] = []
    for position, part in enumerate(parts):
        match = _SEGMENT.match(part)
        last = position == len(parts) - 1
        if match is None:
            if any(c in part for c in "[]{}"):
                raise ConfigError(f"{root / relative}: segment {part!r}: brackets make a parameter only as a whole "
                                  "name, e.g. [id] or [...slug]")
            if not (last and part == "index"):
                found.append(("literal", part))
            continue
        kind = next(key for key, value in match.groupdict().items() if value is not None)
        name = match.group(kind)
        if not _IDENTIFIER.match(name):
            raise ConfigError(f"{root / relative}: parameter {part!r}: a name is letters, digits and '_', not "
                              "starting with a digit")
        if kind != "param" and not last:
            raise ConfigError(f"{root / relative}: {part!r} takes the rest of the path, so it must be the file "
                              "name, not a folder")
        if any(text == name for other, text in found if other != "literal"):
            raise ConfigError(f"{root / relative}: parameter {name!r} appears twice in the path")
        found.append((kind, name))
    return found


def api_routes(relative: str, root: Path) -> list[str]:
    """The route paths of one function file (two for an optional catch-all)."""
    segments = _parse_segments(relative, root)
    spelled = []
    for kind, text in segments:
        spelled.append(text if kind == "literal" else f"{{{text}}}" if kind == "param" else f"{{{text}+}}")
    path = "/" + "/".join(spelled)
    if segments and segments[-1][0] == "optional":
        return ["/" + "/".join(spelled[:-1]), path]
    return [path]


def _rank(path: str) -> tuple[int, int, str]:
    """Static paths first, then dynamic ones (more static segments first), catch-alls last."""
    segments = [segment for segment in path.split("/") if segment]
    static = sum(1 for segment in segments if not segment.startswith("{"))
    kind = 2 if path.endswith("+}") else 1 if "{" in path else 0
    return kind, -static if kind else 0, path


def function_name(relative: str) -> str:
    """The function name of ``api/…/file.py`` (see the module docstring)."""
    stem = relative[:-len(".py")] if relative.endswith(".py") else relative
    pieces = []
    readable = True
    for part in stem.split("/"):
        match = _SEGMENT.match(part)
        if match is None:
            readable = readable and bool(_READABLE.match(part))
            pieces.append(part.replace("-", "--"))
            continue
        kind = next(key for key, value in match.groupdict().items() if value is not None)
        name = match.group(kind)
        readable = readable and bool(_IDENTIFIER.match(name)) and not name.startswith("_")
        pieces.append({"param": "_", "rest": "__", "optional": "___"}[kind] + name)
    name = "-".join(pieces)
    if readable and FUNCTION_NAME.match(name):
        return name
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", stem).strip("-")[:55].strip("-") or "api"
    return f"{slug}-{hashlib.sha256(relative.encode()).hexdigest()[:8]}"


def _check_conflicts(root: Path, routes: list[tuple[str, str]]) -> None:
    """Refuse two files for the same paths, or two names for one segment (Vercel's conflicting paths)."""
    shapes: dict[tuple[str, ...], str] = {}
    names: dict[tuple[str, ...], tuple[str, str]] = {}
    for path, relative in routes:
        shape: list[str] = []
        for segment in [segment for segment in path.split("/") if segment]:
            if segment.startswith("{"):
                kind = "+" if segment.endswith("+}") else "*"
                name = segment.strip("{}+")
                seen = names.setdefault((*shape, kind), (name, relative))
                if seen[0] != name:
                    raise ConfigError(f"{root / relative}: names a path segment [{name}] where {seen[1]} names it "
                                      f"[{seen[0]}]; use one name for the same segment")
                shape.append(kind)
            else:
                shape.append("/" + segment)
        owner = shapes.setdefault(tuple(shape), relative)
        if owner != relative:
            raise ConfigError(f"{root / relative}: answers the same paths as {owner} ({path}); remove or rename "
                              "one of them")


# --- functions -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    pattern: re.Pattern[str]
    memory_mb: int
    timeout_s: int


def _function_settings(config: _Config, raw: Any) -> dict[str, _Settings]:
    if not isinstance(raw, dict):
        config.fail("functions", 'must be an object of glob patterns, e.g. {"api/*.py": {"maxDuration": 30}}')
    found: dict[str, _Settings] = {}
    for pattern, body in raw.items():
        where = f"functions.{pattern}"
        if len(pattern) > 256 or pattern.startswith("/") or not pattern:
            config.fail(where, "a pattern names files relative to the project folder (no leading '/', at most "
                               "256 characters), e.g. \"api/*.py\"")
        if not isinstance(body, dict) or not body:
            config.fail(where, 'must be an object with at least one property, e.g. {"memory": 512}')
        config.unsupported(where, body, FUNCTION_KEYS)
        memory = body.get("memory", DEFAULT_MEMORY_MB)
        if isinstance(memory, bool) or not isinstance(memory, int) or not (
                MEMORY_MB_RANGE[0] <= memory <= MEMORY_MB_RANGE[1]):
            config.fail(f"{where}.memory", f"must be a whole number of MB from {MEMORY_MB_RANGE[0]} to "
                                           f"{MEMORY_MB_RANGE[1]}, got {memory!r}")
        duration = body.get("maxDuration", DEFAULT_TIMEOUT_S)
        if isinstance(duration, bool) or not isinstance(duration, int) or not (
                MAX_DURATION_RANGE[0] <= duration <= MAX_DURATION_RANGE[1]):
            config.fail(f"{where}.maxDuration", f"must be a whole number of seconds from {MAX_DURATION_RANGE[0]} "
                                                f"to {MAX_DURATION_RANGE[1]}, got {duration!r}")
        for key in ("includeFiles", "excludeFiles"):
            if key in body and not isinstance(body[key], str):
                config.fail(f"{where}.{key}", "must be a glob pattern string, e.g. \"data/**\"")
        if "excludeFiles" in body:
            # One package holds the whole project (every function and the static files), so nothing is left out.
            config.ignored.append(f"{where}.excludeFiles (list the files in .hearthignore instead)")
        try:
            regex = glob_regex(pattern)
        except ValueError as exc:
            config.fail(where, str(exc))
        found[pattern] = _Settings(regex, memory, duration)
    return found


def _settings_for(relative: str, settings: dict[str, _Settings]) -> tuple[str | None, int, int]:
    """The first pattern (file order) matching ``relative``, with its memory and timeout; Vercel's defaults."""
    for pattern, found in settings.items():
        if pattern == relative or found.pattern.fullmatch(relative):
            return pattern, found.memory_mb, found.timeout_s
    return None, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A ``functions`` key as minimatch reads it: ``*``, ``?``, ``[abc]``, ``{a,b}``, and ``**`` for any folders."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:[^/]+/)*")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        elif pattern[index] == "[" and "]" in pattern[index + 2:]:
            end = pattern.index("]", index + 2)
            body = pattern[index + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            index = end + 1
        elif pattern[index] == "{":
            end = pattern.find("}", index)
            if end == -1 or "{" in pattern[index + 1:end]:
                raise ValueError("a '{' opens a list of alternatives that must close with '}' (no nesting): "
                                 "\"api/{a,b}.py\"")
            choices = pattern[index + 1:end].split(",")
            out.append("(?:" + "|".join(glob_regex(choice).pattern for choice in choices) + ")")
            index = end + 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise ValueError(f"not a valid pattern: {exc}") from None


# --- routing rules ---------------------------------------------------------------------------------------------


def _array(config: _Config, data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        config.fail(key, "must be an array")
    return value


def _object(config: _Config, where: str, raw: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        config.fail(where, "must be an object")
    config.unsupported(where, raw, allowed)
    return raw


def _text(config: _Config, where: str, raw: dict[str, Any], key: str, example: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        config.fail(f"{where}.{key}", f"required: a string, e.g. {example}")
    return value


def _boolean(config: _Config, data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        config.fail(key, f"must be true or false, got {value!r}")
    return value


def _optional_boolean(config: _Config, data: dict[str, Any], key: str) -> bool | None:
    return _boolean(config, data, key, False) if key in data else None


def _status(config: _Config, where: str, value: Any, bounds: tuple[int, int] = STATUS_RANGE) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        config.fail(where, f"must be a status code from {bounds[0]} to {bounds[1]}, got {value!r}")
    return value


def _source(config: _Config, where: str, raw: dict[str, Any]) -> tuple[str, frozenset[str]]:
    source = _text(config, where, raw, "source", '"/blog/:slug"')
    try:
        compiled = compile_source(source)
    except PatternError as exc:
        config.fail(f"{where}.source", str(exc))
    return source, compiled.names()


def _conditions(config: _Config, where: str, raw: dict[str, Any], key: str) -> tuple[RouteCondition, ...]:
    items = raw.get(key, [])
    if not isinstance(items, list):
        config.fail(f"{where}.{key}", 'must be an array, e.g. [{"type": "header", "key": "x-beta"}]')
    found = []
    for index, item in enumerate(items):
        at = f"{where}.{key}[{index}]"
        item = _object(config, at, item, CONDITION_KEYS)
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


def _check_destination(config: _Config, where: str, destination: str, params: frozenset[str]) -> None:
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


def _rewrite(config: _Config, where: str, raw: Any) -> RewriteRule:
    raw = _object(config, where, raw, REWRITE_KEYS)
    source, names = _source(config, where, raw)
    destination = _text(config, where, raw, "destination", '"/api/:slug"')
    has = _conditions(config, where, raw, "has")
    _check_destination(config, where, destination, names | _condition_names(has))
    if _URL.match(destination):
        config.ignored.append(f"{where} (a rewrite to another origin, {destination}: not proxied)")
    status = _status(config, f"{where}.statusCode", raw["statusCode"]) if "statusCode" in raw else None
    return RewriteRule(source=source, destination=destination, has=has,
                       missing=_conditions(config, where, raw, "missing"), status=status)


def _redirect(config: _Config, where: str, raw: Any) -> RedirectRule:
    raw = _object(config, where, raw, REDIRECT_KEYS)
    source, names = _source(config, where, raw)
    destination = _text(config, where, raw, "destination", '"/new/:slug" or "https://example.com/:slug"')
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
        status = _status(config, f"{where}.statusCode", raw["statusCode"], (300, 399))
    return RedirectRule(source=source, destination=destination, status=status, has=has,
                        missing=_conditions(config, where, raw, "missing"))


def _headers(config: _Config, where: str, raw: Any) -> HeadersRule:
    raw = _object(config, where, raw, HEADERS_KEYS)
    source, _ = _source(config, where, raw)
    items = raw.get("headers")
    if not isinstance(items, list) or not items:
        config.fail(f"{where}.headers", 'required: an array such as [{"key": "Cache-Control", "value": "no-store"}]')
    headers = []
    for index, item in enumerate(items):
        at = f"{where}.headers[{index}]"
        item = _object(config, at, item, {"key", "value"})
        name, value = item.get("key"), item.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            config.fail(at, 'needs a string "key" and a string "value"')
        headers.append(_header(config, at, name, value))
    return HeadersRule(source=source, headers=tuple(headers), has=_conditions(config, where, raw, "has"),
                       missing=_conditions(config, where, raw, "missing"))


def _header(config: _Config, where: str, name: str, value: str) -> tuple[str, str]:
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


def _routes(config: _Config, items: list[Any]) -> tuple[LegacyRoute, ...]:
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


def _legacy_route(config: _Config, where: str, raw: Any) -> LegacyRoute:
    raw = _object(config, where, raw, ROUTE_KEYS)

    def alias(first: str, second: str) -> Any:
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
        status = _status(config, f"{where}.status", status)
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
    if isinstance(dest, str) and _URL.match(dest):
        config.ignored.append(f"{where} (a route to another origin, {dest}: not proxied)")
    return LegacyRoute(src=src, dest=dest, headers=headers, status=status, methods=methods,
                       continue_=flags["continue"], check=flags["check"], case_sensitive=case_sensitive,
                       has=_conditions(config, where, raw, "has"), missing=_conditions(config, where, raw, "missing"))


# --- the rest --------------------------------------------------------------------------------------------------


def _env(config: _Config, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        config.fail("env", 'must be an object of strings, e.g. {"GREETING": "hi"}')
    bad = [name for name in raw if not _ENV_NAME.match(name)]
    if bad:
        config.fail("env", f"invalid variable name {bad[0]!r}; use letters, digits and '_'")
    return dict(raw)


def _cron(config: _Config, where: str, raw: Any) -> CronJob:
    raw = _object(config, where, raw, CRON_KEYS)
    path = _text(config, where, raw, "path", '"/api/cron"')
    if not path.startswith("/") or len(path) > 512:
        config.fail(f"{where}.path", 'must be a path starting with "/" (at most 512 characters), e.g. "/api/cron"')
    schedule = _text(config, where, raw, "schedule", '"0 5 * * *"')
    fields = schedule.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(field) for field in fields):
        config.fail(f"{where}.schedule", f"must be a cron expression of five fields (minute hour day month "
                                         f"weekday), e.g. \"0 5 * * *\", got {schedule!r}")
    return CronJob(path=path, schedule=schedule)


def _static_dir(config: _Config, root: Path, output: Any) -> Path:
    if output is not None:
        if not isinstance(output, str) or not output or os.path.isabs(output):
            config.fail("outputDirectory", 'must be a folder inside the project, e.g. "dist"')
        folder = (root / output).resolve()
        if not folder.is_relative_to(root):
            config.fail("outputDirectory", f"{output!r} is outside the project folder")
        if not folder.is_dir():
            config.fail("outputDirectory", f"{output!r} is not a folder (build it first, or remove the key)")
        return folder
    public = root / PUBLIC_DIR
    return public if public.is_dir() else root
