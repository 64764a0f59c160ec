"""A manifest's ``[functions.NAME]`` tables: the function, its aliases (with header rules and provisioned
concurrency) and its ``async`` settings."""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from hearth.billing.prices import PRICE_KEYS, parse_price
from hearth.config.include import include_problem
from hearth.config.manifest.source import Source
from hearth.errors import ConfigError
from hearth.model import (
    ALIAS_NAME,
    BOOTSTRAP,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    FUNCTION_NAME,
    HTTP_RUNTIME,
    ISOLATIONS,
    LATEST,
    MAX_EVENT_AGE_S_RANGE,
    MAX_RETRY_ATTEMPTS_RANGE,
    MEMORY_MB_RANGE,
    QUEUE_NAME,
    TIMEOUT_S_RANGE,
    AliasSpec,
    EventInvokeConfig,
    FunctionSpec,
    HeaderRule,
    ServerSpec,
    function_arn,
    handler_problem,
    parse_destination,
    queue_arn,
    runtime_family,
)
from hearth.secrets.names import secret_name_problem

FUNCTION_KEYS = {"handler", "memory_mb", "timeout_s", "concurrency", "idle_timeout_s", "env", "runtime",
                 "description", "aliases", "include", "async", "schedule", "schedules",
                 "queues", "dead_letter_queue", "price", "keep_alive",
                 "secrets", "secrets_as_files", "isolation", "network"}
SERVER_KEYS = {"command", "health_path", "startup_timeout_s", "max_concurrency"}  # the ``http`` runtime's
ALIAS_KEYS = {"version", "weights", "rules", "description", "provisioned_concurrency"}
ASYNC_KEYS = {"maximum_retry_attempts", "maximum_event_age_s", "on_success", "on_failure"}
RULE_KEYS = {"header", "equals", "range", "version"}


def function_spec(name: str, raw: Any, root: Path, source: Source) -> FunctionSpec:
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
    memory_mb = integer_key(raw, "memory_mb", DEFAULT_MEMORY_MB, MEMORY_MB_RANGE, fail)
    timeout_s = number_key(raw, "timeout_s", DEFAULT_TIMEOUT_S, TIMEOUT_S_RANGE, fail)
    concurrency = raw.get("concurrency")
    if concurrency is not None:
        concurrency = integer_key(raw, "concurrency", 0, (0, 100_000), fail)
    idle_timeout_s = number_key(raw, "idle_timeout_s", DEFAULT_IDLE_TIMEOUT_S, (0.1, 86_400), fail)
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
    keep_alive = raw.get("keep_alive", False)
    if not isinstance(keep_alive, bool):
        raise fail("keep_alive", "must be true or false: true keeps the function enabled however long it goes "
                                 "without invocations")
    secrets, secrets_as_files = _secrets(raw, env, fail)
    isolation, network = _isolation(raw, family, secrets_as_files, fail)
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
        price=_price(raw.get("price", {}), fail),
        keep_alive=keep_alive,
        secrets=secrets,
        secrets_as_files=secrets_as_files,
        isolation=isolation,
        network=network,
    )


def _isolation(raw: Any, family: str, secrets_as_files: bool,
               fail: Callable[[str, str], ConfigError]) -> tuple[str, bool]:
    """``isolation = "sandbox"``: the function's instances run inside bubblewrap; ``network = false`` (sandbox
    only) leaves them a loopback interface of their own and nothing else."""
    isolation = raw.get("isolation", "process")
    if isolation not in ISOLATIONS:
        raise fail("isolation", f'must be "process" (the default: own process group, cgroups and rlimits) or '
                                f'"sandbox" (also bubblewrap: read-only system, private /tmp, only the package '
                                f'visible), got {isolation!r}')
    network = raw.get("network", True)
    if not isinstance(network, bool):
        raise fail("network", "must be true (the host's network) or false (loopback only; needs "
                              'isolation = "sandbox")')
    if not network and isolation != "sandbox":
        raise fail("network", 'network = false needs isolation = "sandbox": a process-isolated function shares '
                              "the host's network")
    if not network and family == "provided":
        raise fail("network", "a provided function needs the network: its bootstrap reaches the Runtime API on "
                              "the host's loopback (AWS_LAMBDA_RUNTIME_API)")
    if not network and family == HTTP_RUNTIME:
        raise fail("network", "an http function needs the network: the gateway reaches its server on the host's "
                              "loopback")
    if isolation == "sandbox" and secrets_as_files:
        raise fail("secrets_as_files", 'cannot be used with isolation = "sandbox" yet (the secrets folder is '
                                       "outside the sandbox); give the secrets as environment variables")
    return isolation, network


def _secrets(raw: Any, env: dict[str, str], fail: Callable[[str, str], ConfigError]) -> tuple[tuple[str, ...], bool]:
    """``secrets = ["DB_URL"]``: the secrets (``hearth secret set``) the function's instances get, and
    ``secrets_as_files = true``: as files in ``HEARTH_SECRETS_DIR`` instead of environment variables."""
    names = raw.get("secrets", [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise fail("secrets", 'must be a list of secret names, e.g. secrets = ["DB_URL"] (set each with '
                              "`hearth secret set NAME`)")
    for name in names:
        problem = secret_name_problem(name)
        if problem is not None:
            raise fail("secrets", problem)
    if len(set(names)) != len(names):
        raise fail("secrets", f"{next(n for n in names if names.count(n) > 1)} is listed twice")
    both = sorted(set(names) & set(env))
    if both:
        raise fail("secrets", f"{both[0]} is both in env and in secrets; keep it in one of them")
    as_files = raw.get("secrets_as_files", False)
    if not isinstance(as_files, bool):
        raise fail("secrets_as_files", "must be true (each secret a file in $HEARTH_SECRETS_DIR) or false "
                                       "(environment variables)")
    return tuple(names), as_files


def _price(raw: Any, fail: Callable[[str, str], ConfigError]) -> dict[str, Decimal]:
    """``price = { gb_second = 0.00002, per_million_requests = 0.25, provisioned_gb_second = … }``: the prices
    that replace the platform's for this function (US dollars; any of the three)."""
    usage = (f"must be a table of prices in dollars with any of {', '.join(PRICE_KEYS)}, "
             "e.g. price = { gb_second = 0.00002 }")
    if not isinstance(raw, dict):
        raise fail("price", usage)
    unknown = sorted(set(raw) - set(PRICE_KEYS))
    if unknown:
        raise fail("price", f"unknown price {unknown[0]!r}; {usage}")
    try:
        return {key: parse_price(value, f"price.{key}") for key, value in raw.items()}
    except ConfigError as error:
        raise fail("price", error.message) from None


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
        startup_timeout_s=number_key(raw, "startup_timeout_s", 10.0, (0.1, 600), fail),
        max_concurrency=integer_key(raw, "max_concurrency", 100, (1, 10_000), fail),
    )


def function_aliases(function: str, raw: Any, source: Source) -> list[tuple[AliasSpec, int | None]]:
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


def async_config(function: str, raw: Any, source: Source) -> EventInvokeConfig:
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
        maximum_retry_attempts=integer_key(raw, "maximum_retry_attempts", defaults.maximum_retry_attempts,
                                        MAX_RETRY_ATTEMPTS_RANGE, fail),
        maximum_event_age_s=integer_key(raw, "maximum_event_age_s", defaults.maximum_event_age_s, MAX_EVENT_AGE_S_RANGE,
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


def integer_key(raw: dict[str, Any], key: str, default: int, bounds: tuple[int, int], fail: Any) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        raise fail(key, f"must be a whole number from {bounds[0]} to {bounds[1]}, got {value!r}")
    return value


def number_key(raw: dict[str, Any], key: str, default: float, bounds: tuple[float, float], fail: Any) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not bounds[0] <= value <= bounds[1]:
        raise fail(key, f"must be a number from {bounds[0]:g} to {bounds[1]:g}, got {value!r}")
    return float(value)
