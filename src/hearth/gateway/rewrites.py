"""Vercel's routing for one project: redirects, rewrites, response headers, clean URLs, trailing slashes and the
legacy ``routes`` array, compiled once and applied to each request before the route table and static files.

``VercelRouter.route(method, path, query, headers, is_file)`` is pure: it reads the request and asks ``is_file``
whether a static file answers a path, and returns one decision:

- ``Redirect(status, location, headers)``: answer now (the request's query is kept on the new URL);
- ``Serve(path, query, headers, status)``: serve ``path`` (rewritten, or the request's own) through the function
  route table and the static files as usual, then set ``headers`` on the response (they replace the response's
  values for the names they set) and, when ``status`` is set, answer with it (nothing at ``path``: an error page
  with that status);
- ``External(url, headers, status)``: a rewrite to another origin, which the gateway forwards (``gateway/external.py``);
- ``None``: nothing applies; serve the request as it came.

Order (Vercel's; each rule list in file order):

1. ``cleanUrls`` redirects (308): ``/about.html`` → ``/about``, ``/x/index`` → ``/x``, ``/api/f.py`` → ``/api/f``;
2. ``trailingSlash`` redirects (308): ``true`` adds a slash to paths whose last segment has no dot, ``false``
   removes it (``/.well-known/*`` is left alone);
3. ``redirects`` — the first match answers;
4. ``headers`` — every match adds its headers (a later rule wins for the same name) and routing goes on;
5. the filesystem: a static file, or a function without path parameters, at the path ends routing;
6. ``rewrites`` — a match whose destination exists (filesystem as in 5) is served; otherwise routing goes on with
   the rewritten path, so a later rewrite can still match it;
7. what is left goes to the route table (functions with ``[param]`` segments are matched there, after every
   rewrite: a catch-all rewrite such as ``/(.*)`` → ``/index.html`` shadows them, as on Vercel).

The legacy ``routes`` array (never mixed with the keys above) runs in its own order: the routes before
``{"handle": "filesystem"}`` (all of them without one), the filesystem check, then the routes after it. A match
applies its ``headers``; with ``continue`` it also applies ``dest`` and ``status`` and goes on; without, it ends
its phase (with ``check``, only when something serves ``dest``), and when nothing serves the path the next phase
starts from it. A 3xx ``status`` with a ``Location`` header (or a ``dest``) is a redirect; another ``status``
without ``dest`` ends routing (``Serve`` with that status: the file, or an error page with it). Header rules are
not applied to redirects, as on Vercel.

Conditions (``has``/``missing``): a header, cookie, query parameter (its first value) or the host (without the
port); ``value`` must match the whole value, and its named groups (or, without a value, the item itself) become
parameters of the destination. Query strings: a rewrite or redirect keeps the destination's parameters and adds
the request's others; a rewrite whose destination path uses no parameter gets them all as query parameters
(``/resize/:w`` → ``/api/sharp?w=…``). Paths are matched decoded; what goes into a ``Location`` is
percent-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from hearth.gateway.vercel_patterns import Source, Template, compile_regex, compile_source, js_regex
from hearth.model import LegacyRoute, RouteCondition, VercelRouting, VercelSpec

Headers = tuple[tuple[bytes, bytes], ...]
IsFile = Callable[[str], bool]

PERMANENT = 308
_API_EXTENSION = re.compile(r"^(/api/.+)\.py$")
_API_INDEX = re.compile(r"^(/api(?:/.+)?)/index$")
_PATH_SAFE = "/!$&'()*+,;=:@~-._"
_HEADER_TEXT = re.compile(r"[^\x20-\x7e]")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, slots=True)
class Redirect:
    """Answer with ``status`` and ``Location: location`` (the body is the gateway's)."""

    status: int
    location: str
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Serve:
    """Serve ``path`` with ``query`` (rewritten or not), then apply ``headers`` and ``status`` to the response."""

    path: str
    query: str
    headers: Headers = ()
    status: int | None = None
    rewritten: bool = False


@dataclass(frozen=True, slots=True)
class External:
    """A rewrite to another origin (``url`` has the query): the gateway forwards the request there."""

    url: str
    headers: Headers = ()
    status: int | None = None


Decision = Redirect | Serve | External


# --- compiled rules ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Condition:
    type: str
    key: str
    regex: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class _Destination:
    """A destination split into parts that are rendered and encoded each as a URL needs."""

    scheme: str
    netloc: Template
    path: Template  # as written: for a Location or another origin
    internal: Template  # percent-escapes of the text decoded: for a rewrite (routes match decoded paths)
    query: tuple[tuple[str, Template], ...]  # (raw key, value template); a key alone has a None-like ""
    bare_keys: frozenset[int]  # positions in ``query`` written without "="
    fragment: Template
    auto_query: tuple[str, ...]  # parameters to add to the query: a rewrite whose path uses none of them

    @property
    def external(self) -> bool:
        """Whether the destination is another origin (an absolute URL)."""
        return bool(self.scheme)


@dataclass(frozen=True, slots=True)
class _Route:
    regex: re.Pattern[str]
    params: tuple[tuple[str, str], ...] | None  # (name, group) of a source pattern; None: the regex's named groups
    dest: _Destination | None = None
    headers: tuple[tuple[bytes, Template], ...] = ()
    status: int | None = None
    methods: frozenset[str] | None = None
    continues: bool = False
    check: bool = False
    has: tuple[_Condition, ...] = ()
    missing: tuple[_Condition, ...] = ()


def _conditions(items: Iterable[RouteCondition]) -> tuple[_Condition, ...]:
    found = []
    for item in items:
        regex = re.compile(compile_regex_value(item.value)) if item.value is not None else None
        found.append(_Condition(item.type, item.key.lower() if item.type == "header" else item.key, regex))
    return tuple(found)


def compile_regex_value(value: str) -> str:
    """A condition's ``value`` as a Python regular expression matched against the whole value."""
    return f"(?:{js_regex(value)})\\Z"


def condition_params(items: Iterable[RouteCondition]) -> tuple[str, ...]:
    """The parameters conditions define, in order: a key without a value, named groups, ``host`` for a host value."""
    names: list[str] = []
    for item in items:
        if item.value is None:
            if item.key:
                names.append(item.key.lower() if item.type == "header" else item.key)
            continue
        names.extend(re.compile(compile_regex_value(item.value)).groupindex)
        if item.type == "host":
            names.append("host")
    return tuple(dict.fromkeys(names))


def _destination(text: str, names: tuple[str, ...], *, rewrite: bool) -> _Destination:
    params = frozenset(names)
    if not _URL.match(text) and not text.startswith("/"):
        text = "/" + text  # Vercel reads "api/x.py" as "/api/x.py"
    parts = urlsplit(text)
    path_text = parts.path or ("/" if not parts.scheme else "")
    path = Template.compile(path_text, params)
    internal = Template.compile(unquote(path_text), params) if "%" in path_text else path
    netloc = Template.compile(parts.netloc, params)
    fragment = Template.compile(parts.fragment, params)
    query: list[tuple[str, Template]] = []
    bare: set[int] = set()
    for position, pair in enumerate(piece for piece in parts.query.split("&") if piece):
        key, equals, value = pair.partition("=")
        if not equals:
            bare.add(position)
        query.append((key, Template.compile(value, params)))
    used = path.references | netloc.references | fragment.references
    keys = {unquote_plus(key) for key, _ in query}
    auto = tuple(name for name in names if name not in keys) if rewrite and not (used & params) else ()
    return _Destination(parts.scheme, netloc, path, internal, tuple(query), frozenset(bare), fragment, auto)


def _header_templates(headers: Iterable[tuple[str, str]], params: frozenset[str]) -> tuple[tuple[bytes, Template],
                                                                                          ...]:
    return tuple((name.lower().encode("latin-1"), Template.compile(value, params)) for name, value in headers)


def _legacy(route: LegacyRoute) -> _Route:
    regex = compile_regex(route.src, case_sensitive=route.case_sensitive)
    return _Route(  # legacy routes refer to what matched as $1 and $name only: no :name parameters
        regex=regex, params=None,
        dest=_destination(route.dest, (), rewrite=False) if route.dest is not None else None,
        headers=_header_templates(route.headers, frozenset()), status=route.status, methods=route.methods,
        continues=route.continue_, check=route.check, has=_conditions(route.has), missing=_conditions(route.missing))


def _redirect_route(pattern: str, location: str, status: int = PERMANENT) -> _Route:
    """One of Vercel's built-in redirects (clean URLs, trailing slashes): a regex and a ``$1`` location."""
    return _Route(regex=re.compile(pattern), params=None, dest=_destination(location, (), rewrite=False),
                  status=status)


def _builtin(rules: VercelRouting, functions: bool) -> list[_Route]:
    """The redirects ``cleanUrls`` and ``trailingSlash`` stand for, in Vercel's order."""
    routes: list[_Route] = []
    slash = "/" if rules.trailing_slash else ""
    if rules.clean_urls:
        if functions:
            routes.append(_redirect_route(r"^/(api(?:.+)?)/index(?:\.py)?/?$", "/$1" + slash))
            routes.append(_redirect_route(r"^/api/(.+)\.py/?$", "/api/$1" + slash))
        routes.append(_redirect_route(r"^/(?:(.+)/)?index(?:\.html)?/?$", "/$1" + slash))
        routes.append(_redirect_route(r"^/(.*)\.html/?$", "/$1" + slash))
    if rules.trailing_slash is True:
        routes.append(_Route(regex=re.compile(r"^/\.well-known(?:/.*)?$"), params=None))  # ends the phase as is
        routes.append(_redirect_route(r"^/((?:[^/]+/)*[^/.]+)$", "/$1/"))
        routes.append(_redirect_route(r"^/((?:[^/]+/)*[^/]+\.\w+)/$", "/$1"))
    elif rules.trailing_slash is False:
        routes.append(_redirect_route(r"^/(.*)/$", "/$1"))
    return routes


def _names(source: Source, has: Iterable[RouteCondition]) -> tuple[str, ...]:
    """A rule's parameter names in order: the source's, then its conditions' (which win a clash)."""
    return tuple(dict.fromkeys((*(name for name, _ in source.params), *condition_params(has))))


def compile_rules(rules: VercelRouting, *, functions: bool = False) -> tuple[tuple[_Route, ...], tuple[_Route, ...]]:
    """The routes before and after the filesystem check; raises ``PatternError`` (a ``ValueError``)."""
    before = _builtin(rules, functions)
    after: list[_Route] = []
    target = before
    for route in rules.routes:
        if route.handle == "filesystem":
            target = after
        elif route.handle is None:
            target.append(_legacy(route))
    for redirect in rules.redirects:
        source = compile_source(redirect.source)
        params = _names(source, redirect.has)
        before.append(_Route(regex=source.regex, params=source.params,
                             dest=_destination(redirect.destination, params, rewrite=False),
                             status=redirect.status, has=_conditions(redirect.has),
                             missing=_conditions(redirect.missing)))
    for rule in rules.headers:
        source = compile_source(rule.source)
        params = _names(source, rule.has)
        before.append(_Route(regex=source.regex, params=source.params,
                             headers=_header_templates(rule.headers, frozenset(params)),
                             continues=True, has=_conditions(rule.has), missing=_conditions(rule.missing)))
    for rewrite in rules.rewrites:
        source = compile_source(rewrite.source)
        params = _names(source, rewrite.has)
        after.append(_Route(regex=source.regex, params=source.params,
                            dest=_destination(rewrite.destination, params, rewrite=True), status=rewrite.status,
                            check=True, has=_conditions(rewrite.has), missing=_conditions(rewrite.missing)))
    return tuple(before), tuple(after)


# --- one request ---------------------------------------------------------------------------------------------


class _Request:
    """What conditions read from a request, parsed only when a rule asks."""

    def __init__(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> None:
        self._raw = raw_headers
        self._headers: dict[str, str] | None = None
        self._cookies: dict[str, str] | None = None

    def header(self, name: str) -> str | None:
        """A request header (names lower-case; repeated headers joined as HTTP joins them), or None."""
        if self._headers is None:
            headers: dict[str, list[str]] = {}
            for key, value in self._raw:
                headers.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
            self._headers = {key: ("; " if key == "cookie" else ", ").join(values) for key, values in headers.items()}
        return self._headers.get(name)

    def cookie(self, name: str) -> str | None:
        """A cookie from the ``Cookie`` header (the first of that name, quotes and escapes removed), or None."""
        if self._cookies is None:
            self._cookies = {}
            for part in (self.header("cookie") or "").split(";"):
                key, equals, value = part.partition("=")
                key, value = key.strip(), value.strip()
                if not equals or not key or key in self._cookies:
                    continue
                if len(value) > 1 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                self._cookies[key] = unquote(value)
        return self._cookies.get(name)

    def host(self) -> str | None:
        """The ``Host`` header without its port, or None."""
        host = self.header("host")
        return re.sub(r":\d+$", "", host) if host is not None else None


def _query_value(pairs: list[str], key: str) -> str | None:
    for pair in pairs:
        name, _, value = pair.partition("=")
        if unquote_plus(name) == key:
            return unquote_plus(value)
    return None


@dataclass
class _State:
    """Where routing has got to: the current path and query, and what the response will get."""

    path: str
    query: list[str]
    headers: dict[bytes, bytes] = field(default_factory=dict)
    status: int | None = None
    final: bool = False  # a route gave a status without a destination: nothing after it runs


class VercelRouter:
    """A project's Vercel routing, compiled once (see the module docstring); ``route`` is pure and read-only."""

    def __init__(self, rules: VercelRouting, function_paths: Iterable[str] = (),
                 aliases: Mapping[str, str] | None = None) -> None:
        self.rules = rules
        self._functions = frozenset(_normalise(path) for path in function_paths)
        self._aliases = dict(aliases or {})
        self._before, self._after = compile_rules(rules, functions=bool(self._functions))

    @classmethod
    def build(cls, spec: VercelSpec) -> VercelRouter:
        """The router of a Vercel project (its site's ``VercelSpec``)."""
        paths = [path for path, _ in spec.files if "{" not in path]
        aliases: dict[str, str] = {}
        if not spec.routing.clean_urls:
            for path, handler in spec.files:
                if "{" in path:
                    continue
                aliases["/" + handler] = path  # /api/user.py, /api/index.py
                if handler.endswith("/index.py") or handler == "index.py":
                    aliases[_normalise(path).rstrip("/") + "/index"] = path
        return cls(spec.routing, paths, aliases)

    def route(self, method: str, path: str, query: str, headers: Iterable[tuple[bytes, bytes]],
              is_file: IsFile) -> Decision | None:
        """The decision for one request; ``path`` is decoded, ``query`` raw, ``headers`` as ASGI gives them."""
        if "\n" in path or "\r" in path:
            return None
        pairs = [pair for pair in query.split("&") if pair]
        state = _State(path, list(pairs))
        request = _Request(headers)
        outcome = self._phase(self._before, state, request, method, is_file)
        if outcome is not None:
            return outcome
        if self._after and not state.final and not self._exists(state.path, is_file):
            outcome = self._phase(self._after, state, request, method, is_file)
            if outcome is not None:
                return outcome
        final = self._canonical(state.path)
        final_query = "&".join(state.query)
        rewritten = final != path or state.query != pairs
        if not rewritten and not state.headers and state.status is None:
            return None
        return Serve(final, final_query, tuple(state.headers.items()), state.status, rewritten)

    # -- phases ----------------------------------------------------------------------------------------------

    def _phase(self, routes: tuple[_Route, ...], state: _State, request: _Request, method: str,
               is_file: IsFile) -> Redirect | External | None:
        """Apply ``routes`` in order; a redirect or external rewrite ends routing, any other final match the phase."""
        for route in routes:
            if route.methods is not None and method not in route.methods:
                continue
            match = route.regex.match(state.path)
            if match is None:
                continue
            captured = _match_conditions(route, request, state.query)
            if captured is None:
                continue
            if route.params is None:
                params = {name: value for name, value in match.groupdict().items() if value is not None}
            else:
                params = {name: match.group(group) or "" for name, group in route.params}
            params.update(captured)
            groups = match.groups()
            status = route.status if route.status is not None else state.status
            location = None
            for name, template in route.headers:
                if name == b"location":
                    location = template.render(params, groups, _path_text)
                    if not route.continues and status is not None and 300 <= status <= 399:
                        continue  # the redirect's own Location, below
                    value = location
                else:
                    value = template.render(params, groups, _header_text)
                state.headers.pop(name, None)
                state.headers[name] = value.encode("latin-1")
            if route.continues:
                if route.status is not None:
                    state.status = route.status
                if route.dest is not None:
                    self._rewrite(state, route.dest, params, groups)
                continue
            if status is not None and 300 <= status <= 399 and (location is not None or route.dest is not None):
                target = location if location is not None else _url(route.dest, params, groups, encode=True)
                return Redirect(status, _with_query(target, state.query), tuple(state.headers.items()))
            if route.dest is not None:
                if route.dest.external:
                    url = _with_query(_url(route.dest, params, groups, encode=True), state.query)
                    return External(url, tuple(state.headers.items()), status)
                self._rewrite(state, route.dest, params, groups)
                if route.check and not self._exists(state.path, is_file):
                    continue  # nothing serves it: later routes may still match the rewritten path
            if route.status is not None:
                state.status = route.status
                state.final = route.dest is None
            break
        return None

    def _rewrite(self, state: _State, dest: _Destination, params: dict[str, str],
                 groups: tuple[str | None, ...]) -> None:
        state.path = dest.internal.render(params, groups)  # captured values are decoded already
        state.query = merge_query(_query(dest, params, groups), state.query)

    def _exists(self, path: str, is_file: IsFile) -> bool:
        """Whether the filesystem serves ``path``: a function without parameters, or a static file."""
        return self._canonical(path) in self._functions or is_file(path)

    def _canonical(self, path: str) -> str:
        """``path``, or the function path it stands for (``/api/user.py`` → ``/api/user``; not with cleanUrls)."""
        normal = _normalise(path)
        if normal in self._functions or self.rules.clean_urls:
            return path
        alias = self._aliases.get(normal)
        if alias is not None:
            return alias
        stripped = _API_EXTENSION.sub(r"\1", normal)
        stripped = _API_INDEX.sub(r"\1", stripped)
        return stripped if stripped != normal and path.startswith("/api/") else path


def _match_conditions(route: _Route, request: _Request, query: list[str]) -> dict[str, str] | None:
    """The parameters ``has`` captures when every ``has`` matches and no ``missing`` does; else None."""
    captured: dict[str, str] = {}
    for condition in route.has:
        value = _lookup(condition, request, query)
        if value is None:
            return None
        if condition.regex is None:
            if condition.key:
                captured[condition.key] = value
            continue
        found = condition.regex.match(value)
        if found is None:
            return None
        captured.update({name: text for name, text in found.groupdict().items() if text is not None})
        if condition.type == "host":
            captured["host"] = value
    for condition in route.missing:
        value = _lookup(condition, request, query)
        if value is not None and (condition.regex is None or condition.regex.match(value) is not None):
            return None
    return captured


def _lookup(condition: _Condition, request: _Request, query: list[str]) -> str | None:
    if condition.type == "header":
        return request.header(condition.key)
    if condition.type == "cookie":
        return request.cookie(condition.key)
    if condition.type == "query":
        return _query_value(query, condition.key)
    return request.host()


def _query(dest: _Destination, params: Mapping[str, str], groups: tuple[str | None, ...]) -> list[str]:
    pairs = []
    for position, (key, template) in enumerate(dest.query):
        if position in dest.bare_keys:
            pairs.append(key)
        else:
            pairs.append(f"{key}={template.render(params, groups, _query_text)}")
    pairs.extend(f"{quote(name, safe='')}={_query_text(params.get(name, ''))}" for name in dest.auto_query)
    return pairs


def merge_query(destination: list[str], request: list[str]) -> list[str]:
    """The destination's query pairs, then the request's pairs for keys the destination does not set."""
    if not request:
        return destination
    keys = {unquote_plus(pair.partition("=")[0]) for pair in destination}
    return destination + [pair for pair in request if unquote_plus(pair.partition("=")[0]) not in keys]


def _url(dest: _Destination | None, params: Mapping[str, str], groups: tuple[str | None, ...], *,
         encode: bool) -> str:
    """A destination rendered as a URL (or absolute path) for a ``Location`` or a proxy, values percent-encoded."""
    assert dest is not None
    path_text = dest.path.render(params, groups, _path_text if encode else _same)
    url = f"{dest.scheme}://{dest.netloc.render(params, groups)}{path_text}" if dest.scheme else path_text
    query = _query(dest, params, groups)
    if query:
        url += "?" + "&".join(query)
    fragment = dest.fragment.render(params, groups)
    return url + "#" + fragment if fragment else url


def _with_query(url: str, request_query: list[str]) -> str:
    """``url`` with the request's query pairs added for keys it does not set (before any fragment)."""
    if not request_query:
        return url
    base, hash_mark, fragment = url.partition("#")
    head, question, own = base.partition("?")
    pairs = merge_query([pair for pair in own.split("&") if pair], request_query)
    return head + "?" + "&".join(pairs) + hash_mark + fragment


def _normalise(path: str) -> str:
    if len(path) > 1 and path.endswith("/"):
        return path.rstrip("/") or "/"
    return path


def _same(value: str) -> str:
    return value


def _path_text(value: str) -> str:
    return quote(value, safe=_PATH_SAFE)


def _query_text(value: str) -> str:
    return quote(value, safe="")


def _header_text(value: str) -> str:
    """A captured value in a header: characters HTTP cannot carry are percent-encoded."""
    return _HEADER_TEXT.sub(lambda match: quote(match.group()), value)
