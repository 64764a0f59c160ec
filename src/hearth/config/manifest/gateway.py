"""A manifest's gateway tables: ``[gateway]`` (name, hosts, prefix), ``[[routes]]``, ``[[headers]]`` and
``[cors]``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hearth.config.manifest.functions import integer_key
from hearth.config.manifest.source import Source
from hearth.errors import ConfigError
from hearth.gateway.auth import HMAC_ALGORITHMS, PUBLIC_ALGORITHMS, key_algorithms
from hearth.gateway.policy import compile_source
from hearth.model import (
    AUTH_KINDS,
    HTTP_RUNTIME,
    LATEST,
    CorsSpec,
    FunctionSpec,
    ResponseHeaders,
    RouteAuth,
    RouteSpec,
    runtime_family,
)
from hearth.secrets.names import secret_name_problem

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
AUTH_KEYS = {"auth", "token_env", "token_secret", "jwks_url", "jwt_key", "jwt_key_file", "jwt_secret_env",
             "jwt_hmac_secret", "issuer", "audience", "algorithms", "scopes"}
ROUTE_KEYS = {"path", "methods", "function", "strip_prefix", "match_headers", "cors", "async"} | AUTH_KEYS
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
GATEWAY_KEYS = {"name", "hosts", "prefix"}
HEADERS_KEYS = {"source", "headers"}
CORS_KEYS = {"allow_origins", "allow_methods", "allow_headers", "expose_headers", "max_age", "allow_credentials"}
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z")
STATIC_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]+\Z")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+\Z")
ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s?#@]+\Z")
MAX_AGE_RANGE = (0, 86_400)
# Headers that frame the HTTP message: the gateway computes them, a rule may not set them.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
                             "trailer"})


def gateway_table(raw: Any, source: Source) -> tuple[str, tuple[str, ...], str]:
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


def route_spec(index: int, raw: Any, functions: dict[str, FunctionSpec], aliases: set[tuple[str, str]],
               prefix: str, site: str, source: Source, root: Path) -> RouteSpec:
    """One ``[[routes]]`` table; ``root`` is the project's folder (a ``jwt_key_file`` is read from it)."""
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
                     cors=route_cors, cors_off=cors is False, asynchronous=asynchronous,
                     auth=route_auth(raw, root, fail))


def route_auth(raw: dict[str, Any], root: Path, fail: Callable[[str, str], ConfigError]) -> RouteAuth | None:
    """A route's ``auth`` and its keys (``gateway/auth.py``): names of secrets, never secrets. A ``jwt_key_file``
    (a public key) is read now, from the project folder ``root``, into ``jwt_key``."""
    kind = raw.get("auth", "none")
    if kind not in AUTH_KINDS:
        raise fail("auth", f'must be one of {", ".join(repr(k) for k in AUTH_KINDS)}, got {kind!r}')
    given = sorted(key for key in AUTH_KEYS - {"auth"} if key in raw)
    if kind == "none":
        if given:
            raise fail(given[0], 'applies only to a route with auth = "token" or auth = "jwt"')
        return None

    def text(key: str, pattern: re.Pattern[str] | None = None, example: str = "") -> str:
        value = raw.get(key, "")
        if not isinstance(value, str) or (value and pattern is not None and not pattern.match(value)):
            raise fail(key, f"must be {example}")
        return value

    def names(key: str, example: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise fail(key, f"must be a string or a list of strings, e.g. {key} = {example}")
        return tuple(dict.fromkeys(value))

    def secret(key: str) -> str:
        value = raw.get(key, "")
        problem = secret_name_problem(value) if value != "" else None
        if problem is not None:
            raise fail(key, f"must name a secret stored with `hearth secret set NAME`: {problem}")
        return str(value)

    env_example = 'the name of an environment variable of the platform, e.g. "API_TOKEN"'
    if kind == "token":
        stray = [key for key in given if key not in ("token_env", "token_secret")]
        if stray:
            raise fail(stray[0], 'applies only to auth = "jwt"')
        if "token_env" in raw and "token_secret" in raw:
            raise fail("token_secret", "cannot be given with token_env: both name the route's token, keep one "
                                       "(token_secret: a secret stored with `hearth secret set`; token_env: a "
                                       "variable of the platform's environment)")
        token_env = text("token_env", ENV_NAME, env_example)
        token_secret = secret("token_secret")
        if not token_env and not token_secret:
            raise fail("token_env", 'required with auth = "token": the platform environment variable that holds '
                                    'the token (never the token itself), e.g. token_env = "API_TOKEN"; or '
                                    'token_secret = "API_TOKEN", a secret stored with `hearth secret set`')
        return RouteAuth(kind="token", token_env=token_env, token_secret=token_secret)
    for key in ("token_env", "token_secret"):
        if key in raw:
            raise fail(key, 'applies only to auth = "token"; a JWT route names its key with jwks_url, jwt_key, '
                            "jwt_key_file, jwt_secret_env or jwt_hmac_secret")
    sources = [key for key in ("jwks_url", "jwt_key", "jwt_key_file", "jwt_secret_env", "jwt_hmac_secret")
               if key in raw]
    if len(sources) != 1:
        raise fail(sources[1] if sources else "auth",
                   "a JWT route needs exactly one of jwks_url (the issuer's key set), jwt_key or jwt_key_file (a PEM "
                   "public key), jwt_secret_env (an HMAC secret in the platform's environment) or jwt_hmac_secret "
                   "(one stored with `hearth secret set`)")
    jwks_url = text("jwks_url", re.compile(r"^https?://[^\s/?#]+[^\s]*$"), 'an http(s) URL, e.g. '
                    '"https://issuer.example.com/.well-known/jwks.json"')
    jwt_secret_env = text("jwt_secret_env", ENV_NAME, env_example)
    jwt_hmac_secret = secret("jwt_hmac_secret")
    jwt_key = text("jwt_key", None, "a PEM public key")
    key_file = text("jwt_key_file", None, "a path to a PEM public key file, relative to the project folder")
    if key_file:
        path = (root / key_file).resolve()
        if not path.is_relative_to(root.resolve()):
            raise fail("jwt_key_file", f"{key_file!r} is outside the project folder")
        try:
            jwt_key = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise fail("jwt_key_file", f"cannot read {key_file!r}: {exc}") from None
    algorithms = names("algorithms", '["RS256"]')
    if jwt_key:
        try:
            usable = key_algorithms(jwt_key)
        except ValueError as exc:
            where = "jwt_key_file" if key_file else "jwt_key"
            raise fail(where, f"must be a PEM public key (RSA, EC or Ed25519): {exc}; an HMAC secret goes in the "
                              "platform's environment, named by jwt_secret_env") from None
    else:
        usable = HMAC_ALGORITHMS if jwt_secret_env or jwt_hmac_secret else PUBLIC_ALGORITHMS
    for alg in algorithms:
        if alg not in usable:
            raise fail("algorithms", f"{alg!r} cannot be used with this key; allowed: {', '.join(usable)}")
    issuer = text("issuer", None, 'the issuer a token\'s "iss" must equal, e.g. "https://issuer.example.com/"')
    return RouteAuth(kind="jwt", jwks_url=jwks_url, jwt_key=jwt_key, jwt_secret_env=jwt_secret_env,
                     jwt_hmac_secret=jwt_hmac_secret, issuer=issuer, audience=names("audience", '["my-api"]'),
                     algorithms=algorithms, scopes=names("scopes", '["read"]'))


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


def response_headers(index: int, raw: Any, cors: bool, source: Source) -> ResponseHeaders:
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


def top_cors(raw: Any, source: Source) -> CorsSpec:
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
        max_age = integer_key(raw, "max_age", 0, MAX_AGE_RANGE, fail)
    return CorsSpec(
        allow_origins=origins,
        allow_methods=names("allow_methods", '["GET", "POST"]', method),
        allow_headers=names("allow_headers", '["content-type", "authorization"]', header("allow_headers")),
        expose_headers=expose,
        max_age=max_age,
        allow_credentials=credentials,
    )
