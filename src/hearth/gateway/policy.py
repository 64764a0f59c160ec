"""The gateway's response policy: header rules per path pattern (Vercel's ``headers``) and CORS (API Gateway HTTP
API's ``CorsConfiguration``), applied by the gateway to every response, whatever produced it.

Order of precedence for a response header, last wins:

1. what the function (or the proxied app, or the gateway's own error) returned;
2. the header rules whose ``source`` matches the request path, in manifest order: a rule replaces every value the
   response had for a header it names, and a later rule replaces an earlier one's;
3. CORS, when configured: the backend's ``Access-Control-*`` headers are dropped (as API Gateway ignores them),
   the configured ones are added for an allowed ``Origin``, and ``Vary`` gains ``Origin``.

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered by the gateway itself
(``204``) whether or not a route matches, without invoking anything; an origin that is not allowed gets the
``204`` without any ``Access-Control-Allow-*`` header, so the browser refuses the call.

Source patterns (``compile_source``) are matched against the whole, decoded request path (a trailing ``/`` is
ignored, as for routes), after the project's ``prefix`` (a path outside it matches no rule):

- ``{name}`` fills one segment and ``{name+}`` (last) one or more, as in routes;
- ``*`` matches any characters within one segment (``/assets/*.js``);
- ``**`` as a whole segment matches any number of segments, none included (``/assets/**``, ``/**/*.map``);
- a source without a leading ``/`` matches at any depth: ``*.js`` is ``/**/*.js``;
- every other character stands for itself.

The policy is built once per catalog change and is read-only afterwards; with no rules and no CORS there is no
policy at all (``ResponsePolicy.build`` returns None), so the gateway pays one attribute check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from hearth.model import CorsSpec, ResponseHeaders

Headers = list[tuple[bytes, bytes]]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}")
_CACHE_SIZE = 1024  # request paths whose matching rules are remembered; cleared whole when full
_ACCESS_CONTROL = b"access-control-"
_VARY = b"vary"
_NO_CONTENT = 204


def compile_source(source: str) -> re.Pattern[str]:
    """The regular expression for a ``[[headers]]`` source; raises ``ValueError`` saying what is wrong."""
    if not source or source.strip() != source or any(c in source for c in "?#\\"):
        raise ValueError('give a path pattern such as "/assets/**", "/api/{proxy+}" or "*.js" (no surrounding '
                         "spaces, no query or fragment)")
    pattern = source if source.startswith("/") else "/**/" + source
    segments = pattern.rstrip("/").split("/")[1:] if pattern != "/" else []
    parts: list[str] = []
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment == "":
            raise ValueError(f"empty segment in {source!r}: write one '/' between segments")
        if segment == "**":
            parts.append(r"(?:/.*)?" if last else r"(?:/[^/]+)*")
            continue
        if "**" in segment:
            raise ValueError(f"bad segment {segment!r}: '**' stands for whole segments (/a/**/b); "
                             "'*' matches within one segment (/a/*.js)")
        param = _PARAM.fullmatch(segment)
        if param is not None:
            if param.group(2) and not last:
                raise ValueError(f"greedy parameter {segment!r} must be the last segment")
            parts.append("/.+" if param.group(2) else "/[^/]+")
            continue
        if "{" in segment or "}" in segment:
            raise ValueError(f"bad segment {segment!r}: a parameter fills a whole segment, like {{name}}")
        parts.append("/" + "[^/]*".join(re.escape(piece) for piece in segment.split("*")))
    return re.compile("^" + ("".join(parts) or "/") + "$")


def _normalise(path: str) -> str:
    if len(path) > 1 and path.endswith("/"):
        return path.rstrip("/") or "/"
    return path


def _encode(rule: ResponseHeaders) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in rule.headers.items())


class _Cors:
    """A ``CorsSpec`` turned into the header values the gateway sends."""

    def __init__(self, spec: CorsSpec) -> None:
        self.any_origin = "*" in spec.allow_origins
        self.origins = frozenset(origin.lower() for origin in spec.allow_origins)
        self.credentials = spec.allow_credentials
        # With credentials, browsers read "*" as a literal name, so the request's own values are echoed instead.
        self.echo_method = "*" in spec.allow_methods and self.credentials
        self.echo_headers = "*" in spec.allow_headers and self.credentials
        self.methods = b"*" if "*" in spec.allow_methods else ", ".join(spec.allow_methods).encode("latin-1")
        self.allow_headers = b"*" if "*" in spec.allow_headers else ", ".join(spec.allow_headers).encode("latin-1")
        self.expose = ", ".join(spec.expose_headers).encode("latin-1")
        self.max_age = str(spec.max_age).encode() if spec.max_age is not None else b""

    def allow_origin(self, origin: bytes) -> bytes | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or None if it is not allowed."""
        if self.any_origin and not self.credentials:
            return b"*"
        if self.any_origin or origin.decode("latin-1").lower() in self.origins:
            return origin
        return None

    def actual(self, origin: bytes | None) -> Headers:
        """The CORS headers of a response to an actual (not preflight) request from ``origin``."""
        allowed = self.allow_origin(origin) if origin is not None else None
        if allowed is None:
            return []
        headers = [(b"access-control-allow-origin", allowed)]
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        if self.expose:
            headers.append((b"access-control-expose-headers", self.expose))
        return headers

    def preflight(self, origin: bytes, method: bytes, requested: bytes | None) -> Headers:
        """The CORS headers of the answer to a preflight from ``origin`` for ``method`` with ``requested`` headers."""
        allowed = self.allow_origin(origin)
        if allowed is None:
            return []
        headers = [(b"access-control-allow-origin", allowed)]
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        methods = method if self.echo_method else self.methods
        if methods:
            headers.append((b"access-control-allow-methods", methods))
        allow_headers = (requested or b"") if self.echo_headers else self.allow_headers
        if allow_headers:
            headers.append((b"access-control-allow-headers", allow_headers))
        if self.max_age:
            headers.append((b"access-control-max-age", self.max_age))
        return headers


class ResponsePolicy:
    """Header rules and CORS for every gateway response; pure, built once per catalog change."""

    def __init__(self, rules: Sequence[ResponseHeaders], cors: CorsSpec | None, prefix: str = "") -> None:
        self.rules = tuple(rules)
        self.cors = cors
        self.prefix = prefix
        self._rules = tuple((compile_source(rule.source), _encode(rule)) for rule in self.rules)
        self._cors = _Cors(cors) if cors is not None else None
        self._matched: dict[str, tuple[tuple[bytes, bytes], ...]] = {}

    @classmethod
    def build(cls, rules: Sequence[ResponseHeaders], cors: CorsSpec | None, prefix: str = "") -> \
            ResponsePolicy | None:
        """The policy for ``rules`` (under ``prefix``) and ``cors``, or None when there is nothing to apply."""
        return cls(rules, cors, prefix) if rules or cors is not None else None

    def preflight(self, method: str, path: str, request_headers: Iterable[tuple[bytes, bytes]]) -> \
            tuple[int, Headers] | None:
        """The gateway's own answer (status, headers; empty body) to a CORS preflight, or None for any other
        request (which then goes on to its route)."""
        if method != "OPTIONS" or self._cors is None:
            return None
        origin = requested_method = requested_headers = None
        for name, value in request_headers:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                requested_method = value
            elif name == b"access-control-request-headers":
                requested_headers = value
        if origin is None or requested_method is None:
            return None
        headers = self._cors.preflight(origin, requested_method, requested_headers)
        headers.append((_VARY, b"Origin"))
        return _NO_CONTENT, self._apply_rules(path, headers)

    def finish(self, path: str, request_headers: Iterable[tuple[bytes, bytes]], response_headers: Headers) -> Headers:
        """``response_headers`` with the matching rules' headers and the CORS headers applied (a new list)."""
        headers = self._apply_rules(path, response_headers)
        cors = self._cors
        if cors is None:
            return headers
        origin = None
        for name, value in request_headers:
            if name == b"origin":
                origin = value
                break
        vary: list[bytes] = []
        kept = []
        for header in headers:
            name = header[0]
            if name == _VARY:
                vary.append(header[1])
            elif not name.startswith(_ACCESS_CONTROL):
                kept.append(header)
        kept.extend(cors.actual(origin))
        kept.append((_VARY, _vary_with_origin(vary)))
        return kept

    def _apply_rules(self, path: str, headers: Headers) -> Headers:
        if not self._rules:
            return headers
        overrides = self._matched.get(path)
        if overrides is None:
            overrides = self._match(path)
        if not overrides:
            return headers
        names = {name for name, _ in overrides}
        return [header for header in headers if header[0] not in names] + list(overrides)

    def _match(self, path: str) -> tuple[tuple[bytes, bytes], ...]:
        """The headers every rule matching ``path`` sets, later rules winning; remembered for the next call."""
        normalised = _normalise(path)
        if self.prefix:
            inside = normalised == self.prefix or normalised.startswith(self.prefix + "/")
            normalised = (normalised[len(self.prefix):] or "/") if inside else ""
        merged: dict[bytes, bytes] = {}
        for regex, headers in self._rules:
            if regex.match(normalised) is not None:
                for name, value in headers:
                    merged.pop(name, None)  # keep the winner's position: after the rules it overrode
                    merged[name] = value
        found = tuple(merged.items())
        if len(self._matched) >= _CACHE_SIZE:
            self._matched.clear()
        self._matched[path] = found
        return found


def _vary_with_origin(values: list[bytes]) -> bytes:
    """One ``Vary`` value: the response's own, plus ``Origin`` unless it is there already (or is ``*``)."""
    if not values:
        return b"Origin"
    joined = b", ".join(values)
    tokens = {token.strip().lower() for token in joined.split(b",")}
    return joined if b"origin" in tokens or b"*" in tokens else joined + b", Origin"
