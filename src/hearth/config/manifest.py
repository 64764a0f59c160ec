"""Load a project folder's ``hearth.toml`` into a ``Project``.

Every problem raises ``ConfigError`` naming the file, the key (with its line where it can be found) and what is
allowed, so that a typo is fixed in one look.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hearth.config.include import check_includes, include_problem
from hearth.config.queues import manifest_queues
from hearth.config.schedules import function_schedules
from hearth.config.triggers import function_queue_triggers
from hearth.config.vercel import is_vercel_project, load_vercel_project
from hearth.errors import ConfigError
from hearth.gateway.policy import compile_source
from hearth.model import (
    ALIAS_NAME,
    BOOTSTRAP,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    FUNCTION_NAME,
    HTTP_RUNTIME,
    LATEST,
    MAX_EVENT_AGE_S_RANGE,
    MAX_RETRY_ATTEMPTS_RANGE,
    MEMORY_MB_RANGE,
    QUEUE_NAME,
    TIMEOUT_S_RANGE,
    AliasSpec,
    CorsSpec,
    EventInvokeConfig,
    EventSourceMappingSpec,
    FunctionSpec,
    HeaderRule,
    Project,
    ResponseHeaders,
    RouteSpec,
    ScheduleSpec,
    ServerSpec,
    function_arn,
    handler_problem,
    parse_destination,
    queue_arn,
    runtime_family,
)

MANIFEST_NAME = "hearth.toml"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

FUNCTION_KEYS = {"handler", "memory_mb", "timeout_s", "concurrency", "idle_timeout_s", "env", "runtime",
                 "description", "aliases", "include", "async", "schedule", "schedules",
                 "queues", "dead_letter_queue"}
SERVER_KEYS = {"command", "health_path", "startup_timeout_s", "max_concurrency"}  # the ``http`` runtime's
ALIAS_KEYS = {"version", "weights", "rules", "description", "provisioned_concurrency"}
ASYNC_KEYS = {"maximum_retry_attempts", "maximum_event_age_s", "on_success", "on_failure"}
RULE_KEYS = {"header", "equals", "range", "version"}
ROUTE_KEYS = {"path", "methods", "function", "strip_prefix", "match_headers", "cors", "async"}
GATEWAY_KEYS = {"name", "hosts", "prefix"}
HEADERS_KEYS = {"source", "headers"}
CORS_KEYS = {"allow_origins", "allow_methods", "allow_headers", "expose_headers", "max_age", "allow_credentials"}
TOP_KEYS = {"functions", "routes", "headers", "cors", "gateway", "queues"}
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
STATIC_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s?#@]+$")
MAX_AGE_RANGE = (0, 86_400)
# Headers that frame the HTTP message: the gateway computes them, a rule may not set them.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
                             "trailer"})


class _Source:
    """The manifest text, for finding the line where a key is written."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, key: str, table: str | None = None, occurrence: int = 0) -> int | None:
        """The 1-based line of ``key = ...`` inside the ``occurrence``-th ``[table]`` (its header when key is empty)."""
        start = 0
        if table is not None:
            header = re.compile(r"^\s*\[+\s*" + re.escape(table) + r"\s*\]+\s*(#.*)?$")
            headers = [number for number, line in enumerate(self.lines) if header.match(line)]
            if len(headers) <= occurrence:
                return None
            start = headers[occurrence]
            if not key:
                return start + 1
        assignment = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for number in range(start, len(self.lines)):
            if number > start and self.lines[number].lstrip().startswith("["):
                break
            if assignment.match(self.lines[number]):
                return number + 1
        return None

    def top_level_line(self, key: str) -> int | None:
        """The line where a top-level ``key`` appears, as ``key = ...`` or as a ``[key...]`` table header."""
        pattern = re.compile(r"^\s*(\[+\s*" + re.escape(key) + r"\s*[.\]]|" + re.escape(key) + r"\s*=)")
        for number, line in enumerate(self.lines):
            if pattern.match(line):
                return number + 1
        return None

    def error(self, where: str, problem: str, key: str = "", table: str | None = None, occurrence: int = 0,
              line: int | None = None) -> ConfigError:
        if line is None and (key or table):
            line = self.line_of(key, table, occurrence)
        location = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{location}: {where}: {problem}")


def load_project(root: Path) -> Project:
    """The project a folder declares: its ``hearth.toml`` when it has one, else its Vercel layout (``api/`` and
    ``vercel.json``, see ``config/vercel/``)."""
    root = root.resolve()
    path = root / MANIFEST_NAME
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory; give the path of a project folder")
    if not path.is_file():
        if is_vercel_project(root):
            return named(load_vercel_project(root), default_name(root))
        raise ConfigError(f"{path}: no manifest; create {MANIFEST_NAME} with a [functions.NAME] table (or give a "
                          "Vercel project: an api/ folder and/or vercel.json)")
    text = path.read_text(encoding="utf-8")
    if is_vercel_project(root) and not _declares_functions(text):  # hearth.toml only places a Vercel project
        return parse_vercel_project(root, default_name(root), text, path)
    project = parse_project(text, root, path, default_name(root))
    # Only here, on the machine that has the folders: a deployed manifest is parsed next to its package instead.
    check_includes(project, lambda name, problem: _Source(path, text).error(
        f"functions.{name}.include", problem, "include", f"functions.{name}"))
    return project


def default_name(root: Path) -> str:
    """A project's name when its manifest gives none: its folder's name, made a valid one."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", root.name).lstrip("._-")[:64]
    return name or "project"


def named(project: Project, name: str) -> Project:
    """``project`` under ``name`` (its routes too), unless it has a name already."""
    if project.name:
        return project
    routes = tuple(dataclasses.replace(route, site=name) for route in project.routes)
    return dataclasses.replace(project, name=name, routes=routes)


def parse_project(text: str, root: Path, path: Path, name: str = "") -> Project:
    """The project a manifest's ``text`` declares, for code in ``root``; errors name ``path``. ``name`` is the
    project's name when the manifest's ``[gateway]`` gives none."""
    source = _Source(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return named(parse_manifest(data, root, source), name)


def parse_vercel_project(root: Path, name: str, toml: str | None, toml_path: Path, config: str | None = None,
                         config_path: Path | None = None) -> Project:
    """A Vercel layout (``config/vercel/``; ``config`` is its ``vercel.json`` text when that is not in ``root``),
    placed on the gateway by the ``[gateway]`` table of the ``hearth.toml`` beside it (``toml``), which may hold
    nothing else: the project's functions are its ``api/`` files. ``name`` is its name when the table gives none."""
    project = load_vercel_project(root, config, config_path)
    if not toml:
        return named(project, name)
    source = _Source(toml_path, toml)
    try:
        data = tomllib.loads(toml)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{toml_path}: not valid TOML: {exc}") from None
    others = sorted(set(data) - {"gateway"})
    if others:
        raise source.error(others[0], "beside api/ and vercel.json, hearth.toml may only hold a [gateway] table "
                                      "(name, hosts): the functions are the api/ files and vercel.json configures "
                                      "them; move this there, or drop api/ and vercel.json to describe the project "
                                      "in hearth.toml alone", line=source.top_level_line(others[0]))
    own, hosts, prefix = _gateway(data.get("gateway", {}), source)
    if prefix:
        raise source.error("gateway.prefix", "a Vercel project's paths are its files' and vercel.json's; it cannot "
                                             "live under a prefix: give it hosts instead", "prefix", "gateway")
    return named(dataclasses.replace(project, hosts=hosts), own or name)


def _declares_functions(text: str) -> bool:
    """Whether a manifest's text has a ``functions`` table (one that does not parse is left to the parser)."""
    try:
        return "functions" in tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return True


def parse_manifest(data: dict[str, Any], root: Path, source: _Source) -> Project:
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise source.error(unknown[0], f"unknown key; allowed top-level keys: {', '.join(sorted(TOP_KEYS))}",
                           line=source.top_level_line(unknown[0]))
    raw_functions = data.get("functions", {})
    if not isinstance(raw_functions, dict) or not raw_functions:
        raise source.error("functions", "declare at least one function as a [functions.NAME] table")
    functions = {name: _function(name, raw, root, source) for name, raw in raw_functions.items()}
    aliases: list[AliasSpec] = []
    provisioned: dict[tuple[str, str], int] = {}
    for name, raw in raw_functions.items():
        for alias, count in _aliases(name, raw.get("aliases", {}), source):
            aliases.append(alias)
            if count is not None:
                provisioned[(name, alias.name)] = count
    declared = {(alias.function, alias.name) for alias in aliases}
    event_invoke_configs = tuple(_async(name, raw["async"], source) for name, raw in raw_functions.items()
                                 if "async" in raw)
    schedules: list[ScheduleSpec] = []
    mappings: list[EventSourceMappingSpec] = []
    for name, raw in raw_functions.items():
        schedules.extend(function_schedules(name, raw, _key_error(source, f"functions.{name}")))
        mappings.extend(function_queue_triggers(name, raw, _key_error(source, f"functions.{name}")))
    local = [spec.name for spec in schedules]
    clash = next((name for name in local if local.count(name) > 1), None)
    if clash is not None:
        raise source.error("functions", f"two schedules are named {clash!r}; give one a name of its own "
                                        "(name = \"…\" in its [[functions.NAME.schedules]] table)")
    raw_routes = data.get("routes", [])
    if not isinstance(raw_routes, list):
        raise source.error("routes", "must be an array of tables ([[routes]])", key="routes")
    name, hosts, prefix = _gateway(data.get("gateway", {}), source)
    routes = tuple(_route(index, raw, functions, declared, prefix, name, source)
                   for index, raw in enumerate(raw_routes))
    cors = _top_cors(data["cors"], source) if "cors" in data else None
    raw_headers = data.get("headers", [])
    if not isinstance(raw_headers, list):
        raise source.error("headers", 'must be an array of tables: [[headers]] with source = "/assets/**" and '
                                      'headers = { "Cache-Control" = "public, max-age=600" }',
                           line=source.top_level_line("headers"))
    headers = tuple(_response_headers(index, raw, cors is not None, source) for index, raw in enumerate(raw_headers))
    queues = manifest_queues(data["queues"], _queue_error(source)) if "queues" in data else ()
    return Project(root=root, functions=functions, routes=routes, manifest=source.path, aliases=tuple(aliases),
                   provisioned=provisioned, headers=headers, cors=cors, name=name, hosts=hosts, prefix=prefix,
                   event_invoke_configs=event_invoke_configs, schedules=tuple(schedules), queues=queues,
                   event_source_mappings=tuple(mappings))


def _queue_error(source: _Source) -> Callable[[str, str, str], ConfigError]:
    """The error for a key of a ``[queues.NAME]`` table (its header's line when the key is not written)."""
    def fail(table: str, key: str, problem: str) -> ConfigError:
        line = (source.line_of(key, table) if key and table else None) or (
            source.line_of("", table) if table else None) or source.top_level_line("queues")
        return source.error(f"{table}.{key}" if key else table or "queues", problem, line=line)

    return fail


def _gateway(raw: Any, source: _Source) -> tuple[str, tuple[str, ...], str]:
    """The ``[gateway]`` table: the project's name, the hosts it answers and the prefix of its routes."""
    def fail(key: str, problem: str) -> ConfigError:
        line = (source.line_of(key, "gateway") if key else None) or source.line_of("", "gateway")
        return source.error(f"gateway.{key}" if key else "gateway", problem, line=line)

    if not isinstance(raw, dict):
        raise source.error("gateway", 'must be a table: [gateway] with hosts = ["api.example.com"]',
                           line=source.top_level_line("gateway"))
    unknown = sorted(set(raw) - GATEWAY_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; allowed: {', '.join(sorted(GATEWAY_KEYS))}")
    name = raw.get("name", "")
    if not isinstance(name, str) or (name and not PROJECT_NAME.match(name)):
        raise fail("name", "must be a name of letters, digits, '.', '-' and '_' (1 to 64 characters, starting "
                           "with a letter or digit)")
    raw_hosts = raw.get("hosts", [])
    if not isinstance(raw_hosts, list) or not all(isinstance(host, str) for host in raw_hosts):
        raise fail("hosts", 'must be a list of host names, e.g. hosts = ["api.example.com", "*.example.org"]')
    hosts: list[str] = []
    for host in raw_hosts:
        lowered = host.lower().rstrip(".")
        if ":" in lowered:
            raise fail("hosts", f"{host!r}: give the host without a port (the gateway matches any port)")
        if not HOST.match(lowered):
            raise fail("hosts", f"{host!r} is not a host name; write e.g. \"api.example.com\", or "
                                '"*.example.com" for its subdomains')
        if lowered not in hosts:
            hosts.append(lowered)
    prefix = raw.get("prefix", "")
    if not isinstance(prefix, str):
        raise fail("prefix", 'must be a path such as "/v1"')
    if prefix:
        problem = _prefix_problem(prefix)
        if problem is not None:
            raise fail("prefix", problem)
    return name, tuple(hosts), prefix.rstrip("/")


def _prefix_problem(prefix: str) -> str | None:
    """What is wrong with a path prefix (static segments: "/v1", "/api/v2"), or None."""
    stripped = prefix.rstrip("/")
    if not prefix.startswith("/") or not stripped:
        return f'{prefix!r}: write static path segments starting with "/", e.g. "/v1"'
    for segment in stripped.split("/")[1:]:
        if not STATIC_SEGMENT.match(segment) or segment in (".", ".."):
            return (f"{prefix!r}: bad segment {segment!r}; a prefix is plain path segments (no parameters, "
                    "no empty segments)")
    return None


def _key_error(source: _Source, table: str) -> Callable[[str, str], ConfigError]:
    """The error for a key of ``table`` (``schedules[0].expression`` points at its table's key ``schedules``)."""
    def fail(key: str, problem: str) -> ConfigError:
        found = re.match(r"^(\w+)\[(\d+)\]\.(\w+)$", key)
        if found is not None:  # a key of the n-th [[table.name]], or that table's line when the key is missing
            inner, occurrence = f"{table}.{found.group(1)}", int(found.group(2))
            line = source.line_of(found.group(3), inner, occurrence) or source.line_of("", inner, occurrence)
            return source.error(f"{table}.{key}", problem, line=line)
        return source.error(f"{table}.{key}", problem, key.split("[", 1)[0], table)

    return fail


def _function(name: str, raw: Any, root: Path, source: _Source) -> FunctionSpec:
    table = f"functions.{name}"
    if not FUNCTION_NAME.match(name):
        raise source.error(table, "function names use letters, digits, '-' and '_' (1 to 64 characters)",
                           table=table)
    if not isinstance(raw, dict):
        raise source.error(table, "must be a table", table=table)

    def fail(key: str, problem: str) -> ConfigError:
        return source.error(f"{table}.{key}", problem, key, table)

    runtime = raw.get("runtime", "python")
    family = runtime_family(runtime) if isinstance(runtime, str) else None
    if family is None:
        raise fail("runtime", f'unknown runtime {runtime!r}; allowed: "python" (or "python3.X"), "provided" '
                              '(or "provided.al2023": a bootstrap speaking the Lambda Runtime API) and "http" '
                              '(a server command, started on demand)')
    allowed = FUNCTION_KEYS | SERVER_KEYS if family == HTTP_RUNTIME else FUNCTION_KEYS
    unknown = sorted(set(raw) - allowed)
    if unknown:
        hint = ' (only with runtime = "http")' if unknown[0] in SERVER_KEYS else ""
        raise source.error(f"{table}.{unknown[0]}",
                           f"unknown key{hint}; allowed: {', '.join(sorted(allowed))}", unknown[0], table)
    handler = raw.get("handler", {"python": None, "provided": BOOTSTRAP, HTTP_RUNTIME: ""}[family])
    if family == "python" and handler is None:
        raise fail("handler", 'required: "module.function" (packages allowed: "pkg.mod.fn"), or the path of a .py '
                              'file in the code folder ("api/users/[id].py")')
    problem = handler_problem(runtime, handler if isinstance(handler, str) else "")
    if problem is not None or not isinstance(handler, str):
        raise fail("handler", problem or "give a string")
    server = _server(raw, fail) if family == HTTP_RUNTIME else None
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > 256:
        raise fail("description", "must be a string of at most 256 characters")
    memory_mb = _integer(raw, "memory_mb", DEFAULT_MEMORY_MB, MEMORY_MB_RANGE, fail)
    timeout_s = _number(raw, "timeout_s", DEFAULT_TIMEOUT_S, TIMEOUT_S_RANGE, fail)
    concurrency = raw.get("concurrency")
    if concurrency is not None:
        concurrency = _integer(raw, "concurrency", 0, (0, 100_000), fail)
    idle_timeout_s = _number(raw, "idle_timeout_s", DEFAULT_IDLE_TIMEOUT_S, (0.1, 86_400), fail)
    env = raw.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise fail("env", 'must be a table of strings, e.g. env = { GREETING = "hi" }')
    bad_env = [k for k in env if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k)]
    if bad_env:
        raise fail("env", f"invalid variable name {bad_env[0]!r}; use letters, digits and '_'")
    dead_letter = raw.get("dead_letter_queue")
    if dead_letter is not None and (not isinstance(dead_letter, str) or not QUEUE_NAME.match(dead_letter)):
        raise fail("dead_letter_queue", 'must be a queue name, e.g. "failed-events": where an asynchronous event '
                                        "goes once its retries are exhausted")
    include = raw.get("include", [])
    if not isinstance(include, list) or not all(isinstance(item, str) for item in include):
        raise fail("include", 'must be a list of folders relative to the project folder, e.g. include = ["../pkg"]')
    for item in include:
        problem = include_problem(item, include)
        if problem is not None:
            raise fail("include", problem)
    return FunctionSpec(
        name=name,
        handler=handler,
        code_dir=root,
        runtime=runtime,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        concurrency=concurrency,
        idle_timeout_s=idle_timeout_s,
        env=dict(env),
        description=description,
        server=server,
        dead_letter_arn=queue_arn(dead_letter) if dead_letter else None,
        include=tuple(include),
    )


def _server(raw: dict[str, Any], fail: Any) -> ServerSpec:
    """The ``http`` runtime's keys: the command, its health check and its concurrency."""
    command = raw.get("command")
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:
            raise fail("command", f"cannot split it into words: {exc}") from None
    if not isinstance(command, list) or not command or not all(isinstance(word, str) for word in command):
        raise fail("command", 'required: the server to start, e.g. command = ["./server", "--port", "{port}"] '
                              "(the port is also in $PORT)")
    health_path = raw.get("health_path", "/")
    if not isinstance(health_path, str) or not health_path.startswith("/"):
        raise fail("health_path", 'must be a path starting with "/", e.g. "/healthz"')
    return ServerSpec(
        command=tuple(command),
        health_path=health_path,
        startup_timeout_s=_number(raw, "startup_timeout_s", 10.0, (0.1, 600), fail),
        max_concurrency=_integer(raw, "max_concurrency", 100, (1, 10_000), fail),
    )


def _aliases(function: str, raw: Any, source: _Source) -> list[tuple[AliasSpec, int | None]]:
    """``[functions.NAME.aliases.ALIAS]`` tables: version, weights, header rules, provisioned concurrency."""
    if not isinstance(raw, dict):
        raise source.error(f"functions.{function}.aliases", "must be a table of [functions.NAME.aliases.ALIAS]",
                           "aliases", f"functions.{function}")
    found = []
    for name, body in raw.items():
        table = f"functions.{function}.aliases.{name}"

        def fail(key: str, problem: str) -> ConfigError:
            return source.error(f"{table}.{key}" if key else table, problem, key, table)  # noqa: B023

        if not ALIAS_NAME.match(name):
            raise fail("", "alias names use 1 to 128 letters, digits, '-' and '_', and are not only digits")
        if not isinstance(body, dict):
            raise fail("", "must be a table")
        unknown = sorted(set(body) - ALIAS_KEYS)
        if unknown:
            raise fail(unknown[0], f"unknown key; allowed: {', '.join(sorted(ALIAS_KEYS))}")
        if "version" not in body:
            raise fail("version", 'required: the version the alias points at, e.g. version = 2 (or "$LATEST")')
        version = _version(body["version"], lambda problem: fail("version", problem))
        raw_weights = body.get("weights", {})
        if not isinstance(raw_weights, dict) or len(raw_weights) > 1:
            raise fail("weights", 'must name at most one additional version, e.g. weights = { "3" = 0.1 }')
        weights: dict[str, float] = {}
        for key, weight in raw_weights.items():
            extra = _version(key, lambda problem: fail("weights", problem))
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
                raise fail("weights", f"the weight of version {extra} must be a number from 0 to 1, got {weight!r}")
            weights[extra] = float(weight)
        rules = tuple(_rule(index, rule, lambda problem: fail("rules", problem))
                      for index, rule in enumerate(_list(body.get("rules", []), lambda p: fail("rules", p))))
        description = body.get("description", "")
        if not isinstance(description, str):
            raise fail("description", "must be a string")
        count = body.get("provisioned_concurrency")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise fail("provisioned_concurrency", f"must be a whole number of at least 1, got {count!r}")
        if count is not None and version == LATEST:
            raise fail("provisioned_concurrency", "cannot be kept for $LATEST; point the alias at a published version")
        if weights and (version == LATEST or LATEST in weights):
            raise fail("weights", "weighted routing is between two published versions; $LATEST cannot take part")
        alias = AliasSpec(function=function, name=name, version=version, weights=weights, rules=rules,
                          description=description)
        found.append((alias, count))
    return found


def _async(function: str, raw: Any, source: _Source) -> EventInvokeConfig:
    """``[functions.NAME.async]``: how asynchronous invocations of the function's ``$LATEST`` are retried, how old
    their events may get, and where their records go (Lambda's EventInvokeConfig)."""
    table = f"functions.{function}.async"

    def fail(key: str, problem: str) -> ConfigError:
        return source.error(f"{table}.{key}" if key else table, problem, key, table)

    if not isinstance(raw, dict):
        raise source.error(table, "must be a table: [functions.NAME.async] with maximum_retry_attempts = 0, "
                                  'on_failure = "other-function", …', "async", f"functions.{function}")
    unknown = sorted(set(raw) - ASYNC_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; allowed: {', '.join(sorted(ASYNC_KEYS))}")
    defaults = EventInvokeConfig(function)
    destinations = {key: _destination(function, raw[key], functools.partial(fail, key))
                    for key in ("on_success", "on_failure") if key in raw}
    return EventInvokeConfig(
        function=function,
        qualifier=LATEST,
        maximum_retry_attempts=_integer(raw, "maximum_retry_attempts", defaults.maximum_retry_attempts,
                                        MAX_RETRY_ATTEMPTS_RANGE, fail),
        maximum_event_age_s=_integer(raw, "maximum_event_age_s", defaults.maximum_event_age_s, MAX_EVENT_AGE_S_RANGE,
                                     fail),
        **destinations,
    )


def _destination(function: str, value: Any, fail: Callable[[str], ConfigError]) -> str:
    """An ``async`` destination: a function (``"other"``, ``"other:alias"``, ``"other:3"``, expanded to its ARN) or
    a function's or queue's ARN, as written."""
    usage = (f'give a function ("other", "other:alias" or "other:3"), or an ARN: a function\'s or a queue\'s '
             f'("{queue_arn("NAME")}")')
    if not isinstance(value, str) or not value:
        raise fail(usage)
    arn = value
    if not value.startswith("arn:"):
        name, colon, qualifier = value.partition(":")
        if colon and not qualifier:
            raise fail(f"{value!r}: {usage}")
        arn = function_arn(name, qualifier or None)
    try:
        destination = parse_destination(arn)
    except ValueError as exc:
        raise fail(str(exc) if arn == value else f"{value!r} is not a function name: {usage}") from None
    if destination.kind == "function" and destination.name == function:
        raise fail(f"{value!r} is the function itself, which Lambda refuses as its own destination; name another "
                   "function or a queue")
    return arn


def _list(value: Any, fail: Any) -> list[Any]:
    if not isinstance(value, list):
        raise fail("must be a list of tables, e.g. rules = [{ header = \"x-env\", equals = \"gray\", version = 3 }]")
    return value


def _version(value: Any, fail: Any) -> str:
    """A version as the manifest may write it: 3, "3" or "$LATEST"."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return str(value)
    if isinstance(value, str) and (value == LATEST or (value.isascii() and value.isdigit() and int(value) >= 1)):
        return str(int(value)) if value != LATEST else value
    raise fail(f'a version is a number from 1 (or "$LATEST"), got {value!r}')


def _rule(index: int, raw: Any, fail: Any) -> HeaderRule:
    if not isinstance(raw, dict):
        raise fail(f"rule {index + 1} must be a table")
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        raise fail(f"rule {index + 1}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(RULE_KEYS))}")
    header = raw.get("header")
    if not isinstance(header, str) or not re.match(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", header):
        raise fail(f"rule {index + 1}: header must be an HTTP header name, e.g. header = \"x-env\"")
    if "version" not in raw:
        raise fail(f"rule {index + 1}: version is required")
    version = _version(raw["version"], lambda problem: fail(f"rule {index + 1}: {problem}"))
    equals = raw.get("equals")
    bounds = raw.get("range")
    if (equals is None) == (bounds is None):
        raise fail(f"rule {index + 1}: give either equals = \"value\" or range = [low, high]")
    if equals is not None:
        if not isinstance(equals, str):
            raise fail(f"rule {index + 1}: equals must be a string")
        return HeaderRule(header=header.lower(), version=version, equals=equals)
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
            or bounds[0] > bounds[1]):
        raise fail(f"rule {index + 1}: range must be [low, high] with numbers and low <= high, got {bounds!r}")
    return HeaderRule(header=header.lower(), version=version, low=float(bounds[0]), high=float(bounds[1]))


def _integer(raw: dict[str, Any], key: str, default: int, bounds: tuple[int, int], fail: Any) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise fail(key, f"must be a whole number from {bounds[0]} to {bounds[1]}, got {value!r}")
    return value


def _number(raw: dict[str, Any], key: str, default: float, bounds: tuple[float, float], fail: Any) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not bounds[0] <= value <= bounds[1]:
        raise fail(key, f"must be a number from {bounds[0]:g} to {bounds[1]:g}, got {value!r}")
    return float(value)


def _route(index: int, raw: Any, functions: dict[str, FunctionSpec], aliases: set[tuple[str, str]],
           prefix: str, site: str, source: _Source) -> RouteSpec:
    where = f"routes[{index}]"

    def fail(key: str, problem: str) -> ConfigError:
        return source.error(f"{where}.{key}" if key else where, problem, key, "routes", index)

    if not isinstance(raw, dict):
        raise fail("", "must be a table ([[routes]])")
    unknown = sorted(set(raw) - ROUTE_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; allowed: {', '.join(sorted(ROUTE_KEYS))}")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise fail("path", 'required: a path starting with "/", e.g. "/hello/{name}"')
    _check_pattern(path, fail)
    target = raw.get("function")
    if not isinstance(target, str):
        raise fail("function", 'required: "name", "name:alias" or "name:version"')
    function, _, qualifier = target.partition(":")
    if function not in functions:
        known = ", ".join(sorted(functions))
        raise fail("function", f"unknown function {function!r}; declared functions: {known}")
    if qualifier == LATEST:
        qualifier = ""
    if qualifier and not (qualifier.isascii() and qualifier.isdigit()) and (function, qualifier) not in aliases:
        raise fail("function", f"unknown alias {qualifier!r} of {function}; declare it as "
                               f"[functions.{function}.aliases.{qualifier}] or target a version number")
    methods = raw.get("methods")
    if methods is not None:
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
            raise fail("methods", 'must be a non-empty list such as ["GET", "POST"]')
        upper = {m.upper() for m in methods}
        if "ANY" in upper or "*" in upper:
            methods = None
        else:
            bad = sorted(upper - HTTP_METHODS)
            if bad:
                raise fail("methods", f"unknown method {bad[0]!r}; allowed: {', '.join(sorted(HTTP_METHODS))}")
            methods = frozenset(upper)
    strip = raw.get("strip_prefix", "")
    if strip is True:  # the static segments before the first parameter
        strip = "/" + "/".join(_leading_static(path))
        if strip == "/":
            raise fail("strip_prefix", f"{path!r} starts with a parameter: there is no static prefix to strip")
    elif strip is False:
        strip = ""
    elif not isinstance(strip, str):
        raise fail("strip_prefix", 'must be a path prefix of the route such as "/app", or true for its static '
                                   "segments before the first parameter")
    elif strip:
        problem = _prefix_problem(strip)
        strip = strip.rstrip("/")
        leading = "/" + "/".join(_leading_static(path))
        if problem is None and not (leading == strip or leading.startswith(strip + "/")):
            problem = (f"{strip!r} is not a prefix of the route's path {path!r}; give whole static segments it "
                       "starts with")
        if problem is not None:
            raise fail("strip_prefix", problem)
    match_headers = raw.get("match_headers", {})
    if not isinstance(match_headers, dict) or not all(isinstance(v, str) for v in match_headers.values()):
        raise fail("match_headers", 'must be a table of header names and exact values, e.g. '
                                    'match_headers = { "X-Env" = "gray" }')
    for header in match_headers:
        if not HEADER_NAME.match(header):
            raise fail("match_headers", f"{header!r} is not an HTTP header name")
    cors = raw.get("cors")
    route_cors: CorsSpec | None = None
    if isinstance(cors, dict):
        route_cors = _cors(cors, lambda key, problem: fail(f"cors.{key}" if key else "cors", problem))
    elif cors is not None and cors is not False:
        raise fail("cors", "must be false (the function answers CORS itself) or a table like [cors] "
                           '(cors = { allow_origins = ["https://example.com"] })')
    asynchronous = raw.get("async", False)
    if not isinstance(asynchronous, bool):
        raise fail("async", "must be true (store the request as an asynchronous event and answer 202) or false")
    if asynchronous and runtime_family(functions[function].runtime) == HTTP_RUNTIME:
        raise fail("async", f"function {function} is an HTTP server (runtime \"http\"): its requests are proxied "
                            "as they come; only event functions can take them asynchronously")
    full = prefix + path if path != "/" or not prefix else prefix
    return RouteSpec(path=full, function=function, methods=methods, qualifier=qualifier or None, site=site,
                     strip_prefix=prefix + strip,
                     match_headers=tuple(sorted((k.lower(), v) for k, v in match_headers.items())),
                     cors=route_cors, cors_off=cors is False, asynchronous=asynchronous)


def _leading_static(path: str) -> list[str]:
    """The static segments a route path starts with (up to its first parameter)."""
    segments = []
    for segment in path.strip("/").split("/"):
        if not segment or "{" in segment:
            break
        segments.append(segment)
    return segments


def _check_pattern(path: str, fail: Any) -> None:
    segments = path.strip("/").split("/") if path != "/" else []
    names: set[str] = set()
    for position, segment in enumerate(segments):
        if "{" not in segment and "}" not in segment:
            continue
        match = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}", segment)
        if not match:
            raise fail("path", f"bad segment {segment!r}: a parameter fills a whole segment, like {{name}}")
        if match.group(2) and position != len(segments) - 1:
            raise fail("path", f"greedy parameter {segment!r} must be the last segment")
        if match.group(1) in names:
            raise fail("path", f"parameter {match.group(1)!r} appears twice")
        names.add(match.group(1))


def _response_headers(index: int, raw: Any, cors: bool, source: _Source) -> ResponseHeaders:
    """One ``[[headers]]`` table: the headers set on responses to paths matching ``source``."""
    where = f"headers[{index}]"

    def fail(key: str, problem: str) -> ConfigError:  # a key that is missing: the line of its table
        line = (source.line_of(key, "headers", index) if key else None) or source.line_of("", "headers", index)
        return source.error(f"{where}.{key}" if key else where, problem, line=line)

    if not isinstance(raw, dict):
        raise fail("", "must be a table ([[headers]])")
    unknown = sorted(set(raw) - HEADERS_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; allowed: {', '.join(sorted(HEADERS_KEYS))}")
    pattern = raw.get("source")
    if not isinstance(pattern, str):
        raise fail("source", 'required: a path pattern such as "/assets/**", "/api/{proxy+}" or "*.js"')
    try:
        compile_source(pattern)
    except ValueError as exc:
        raise fail("source", str(exc)) from None
    table = raw.get("headers")
    if not isinstance(table, dict) or not table:
        raise fail("headers", 'required: a table of header names to values, e.g. '
                              'headers = { "Cache-Control" = "public, max-age=600" }')
    headers: dict[str, str] = {}
    for name, value in table.items():
        lower = name.lower()
        if not HEADER_NAME.match(name):
            raise fail("headers", f"{name!r} is not an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)")
        if lower in FRAMING_HEADERS:
            raise fail("headers", f"{name!r} frames the HTTP message and is set by the gateway; remove it")
        if cors and lower.startswith("access-control-"):
            raise fail("headers", f"{name!r} comes from the [cors] table, which replaces every Access-Control-* "
                                  "header; configure it there")
        if not isinstance(value, str):
            raise fail("headers", f"the value of {name!r} must be a string, got {value!r}")
        if any(ord(c) > 255 or (ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
            raise fail("headers", f"the value of {name!r} has a character HTTP cannot carry (a control character "
                                  "or one outside Latin-1); percent-encode it")
        if lower in headers:
            raise fail("headers", f"{name!r} is given twice (header names ignore case)")
        headers[lower] = value
    return ResponseHeaders(source=pattern, headers=headers)


def _top_cors(raw: Any, source: _Source) -> CorsSpec:
    """The top-level ``[cors]`` table: the project's CORS."""
    def fail(key: str, problem: str) -> ConfigError:  # a key that is missing: the line of [cors]
        line = (source.line_of(key, "cors") if key else None) or source.line_of("", "cors")
        return source.error(f"cors.{key}" if key else "cors", problem, line=line)

    if not isinstance(raw, dict):
        raise source.error("cors", 'must be a table: [cors] with allow_origins = ["https://example.com"]',
                           line=source.top_level_line("cors"))
    return _cors(raw, fail)


def _cors(raw: dict[str, Any], fail: Callable[[str, str], ConfigError]) -> CorsSpec:
    """A CORS table, checked as API Gateway checks a ``CorsConfiguration``; ``fail(key, problem)`` words errors."""
    unknown = sorted(set(raw) - CORS_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; allowed: {', '.join(sorted(CORS_KEYS))}")

    def names(key: str, example: str, check: Any) -> tuple[str, ...]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise fail(key, f"must be a list of strings, e.g. {key} = {example}")
        found: list[str] = []
        for item in value:
            item = check(item)
            if item not in found:
                found.append(item)
        return tuple(found)

    def origin(value: str) -> str:
        if value == "*":
            return value
        if ORIGIN.match(value.lower()):
            return value.lower()
        parts = value.split("/")
        if len(parts) > 3 and ORIGIN.match("/".join(parts[:3]).lower()):
            raise fail("allow_origins", f"{value!r}: an origin has no path; write {'/'.join(parts[:3])!r}")
        raise fail("allow_origins", f"{value!r} is not an origin; write scheme://host[:port] "
                                    '(e.g. "https://example.com") or "*" for any origin')

    def method(value: str) -> str:
        upper = value.upper()
        if upper != "*" and upper not in HTTP_METHODS:
            raise fail("allow_methods", f"unknown method {value!r}; allowed: {', '.join(sorted(HTTP_METHODS))} "
                                        'or "*"')
        return upper

    def header(key: str) -> Any:
        def check(value: str) -> str:
            if value != "*" and not HEADER_NAME.match(value):
                raise fail(key, f"{value!r} is not an HTTP header name; use names like \"content-type\" or \"*\"")
            return value.lower()
        return check

    if "allow_origins" not in raw:
        raise fail("allow_origins", 'required: the origins that may call, e.g. allow_origins = '
                                    '["https://example.com"], or ["*"] for any')
    origins = names("allow_origins", '["https://example.com"]', origin)
    if not origins:
        raise fail("allow_origins", 'list at least one origin, or ["*"] for any; remove [cors] to turn CORS off')
    credentials = raw.get("allow_credentials", False)
    if not isinstance(credentials, bool):
        raise fail("allow_credentials", f"must be true or false, got {credentials!r}")
    expose = names("expose_headers", '["x-request-id"]', header("expose_headers"))
    if credentials and "*" in origins:
        raise fail("allow_credentials", 'cannot be true with allow_origins = ["*"]: browsers refuse credentials '
                                        "for any origin; list the origins that may send them")
    if credentials and "*" in expose:
        raise fail("expose_headers", 'cannot hold "*" with allow_credentials = true: browsers then read it as a '
                                     "header name; list the headers to expose")
    max_age = raw.get("max_age")
    if max_age is not None:
        max_age = _integer(raw, "max_age", 0, MAX_AGE_RANGE, fail)
    return CorsSpec(
        allow_origins=origins,
        allow_methods=names("allow_methods", '["GET", "POST"]', method),
        allow_headers=names("allow_headers", '["content-type", "authorization"]', header("allow_headers")),
        expose_headers=expose,
        max_age=max_age,
        allow_credentials=credentials,
    )
