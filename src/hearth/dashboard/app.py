"""The dashboard's ASGI application, mounted by the control API under ``/dashboard``.

Route table (paths under ``/dashboard``; every page but sign-in and the static files needs a session):

    GET  /                                        functions: last hour, instances, state
    GET  /signin, POST /signin                    sign in with the admin key (or the bearer token)
    POST /signout                                 end the session
    GET  /static/{file}                           the page script and style sheet (served from the package)
    GET  /functions/{name}?window=1h              one function: charts, versions, aliases, invoke form, recent calls
    POST /functions/{name}/invoke                 invoke with a JSON payload (Lambda's Invoke with LogType=Tail)
    GET  /functions/{name}/invocations/{id}       one invocation's log lines
    POST /functions/{name}/aliases/{alias}        set an alias's extra version and weight (UpdateAlias)
    POST /functions/{name}/disable (or /enable)   switch a function off (or on)
    GET  /logs?function=&filter=&status=          live logs; the page follows GET /logs/stream (server-sent events)
    GET  /schedules, POST /schedules/{name}/pause (or /resume)
    GET  /queues, /cost, /idle

Data and actions go through the control API's own operations in-process (``call``: ``ControlApi.call``), so the
dashboard validates and acts exactly as the API does. Every POST passes the CSRF checks (``csrf.py``). With
authentication off (``hearth dev`` on loopback) a browser gets a session without signing in; the checks stay.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote

import orjson

from hearth import errors
from hearth.api.auth import Lookup
from hearth.api.lambda_api import ApiResponse
from hearth.asgi import Receive, Scope, Send, match_route, read_body, respond, send_stream
from hearth.dashboard import csrf, pages
from hearth.dashboard.html import PREFIX, layout, url
from hearth.dashboard.sessions import ANONYMOUS, COOKIE, Session, Sessions, check_key
from hearth.model import SYNC_PAYLOAD_LIMIT

log = logging.getLogger("hearth.dashboard")
MAX_FORM = SYNC_PAYLOAD_LIMIT + 64 * 1024  # the invoke form carries a payload up to Invoke's limit
LOG_BACKLOG = 200
RECENT = 20
_STATIC_TYPES = {"dashboard.js": b"text/javascript; charset=utf-8", "dashboard.css": b"text/css; charset=utf-8"}
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class Call(Protocol):
    """Runs one control API operation in-process (``ControlApi.call``)."""

    def __call__(self, method: str, path: str, query: Mapping[str, str] | None = None, body: bytes = b"",
                 headers: Mapping[str, str] | None = None, caller: str = "") -> Awaitable[ApiResponse]: ...


@dataclass
class Request:
    """One dashboard request: its route parameters, query, form fields, headers and session."""

    method: str
    params: dict[str, str]
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    scheme: str
    session: Session | None
    client: str = ""


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    stream: AsyncGenerator[bytes, None] | None = None  # sent chunk by chunk after ``body``, until it ends


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    public: bool = False


class Dashboard:
    """The dashboard: ``call`` runs control API operations, ``lookup`` checks sign-in keys (None: no sign-in)."""

    def __init__(self, call: Call, lookup: Lookup | None, clock: Callable[[], float] = time.time,
                 sessions: Sessions | None = None) -> None:
        self.call = call
        self.lookup = lookup
        self.clock = clock
        self.sessions = sessions or Sessions(clock)
        self.static = {name: (resources.files("hearth.dashboard") / "static" / name).read_bytes()
                       for name in _STATIC_TYPES}
        fn = "/functions/(?P<name>[^/]+)"
        table = [
            ("GET", "/", self.functions_page, False),
            ("GET", "/signin", self.signin_page, True),
            ("POST", "/signin", self.signin, True),
            ("POST", "/signout", self.signout, False),
            ("GET", "/static/(?P<file>[^/]+)", self.static_file, True),
            ("GET", fn, self.function_page, False),
            ("POST", fn + "/invoke", self.invoke, False),
            ("GET", fn + "/invocations/(?P<request_id>[^/]+)", self.invocation_page, False),
            ("POST", fn + "/aliases/(?P<alias>[^/]+)", self.set_weight, False),
            ("POST", fn + "/(?P<action>disable|enable)", self.toggle, False),
            ("GET", "/logs", self.logs_page, False),
            ("GET", "/logs/stream", self.logs_stream, False),
            ("GET", "/schedules", self.schedules_page, False),
            ("POST", "/schedules/(?P<name>[^/]+)/(?P<action>pause|resume)", self.schedule_action, False),
            ("GET", "/queues", self.queues_page, False),
            ("GET", "/cost", self.cost_page, False),
            ("GET", "/idle", self.idle_page, False),
        ]
        self.routes = [_Route(method, re.compile("^" + pattern + "$"), handler, public)
                       for method, pattern, handler, public in table]

    # -- the ASGI side -----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"][len(PREFIX):]
        if not path:
            await respond(send, 308, [(b"location", (PREFIX + "/").encode())], b"")
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        session = self.sessions.get(_cookie(headers.get("cookie", ""), COOKIE))
        extra: list[tuple[bytes, bytes]] = []
        try:
            route, params = self._match(scope["method"], path)
            body = await read_body(scope, receive, MAX_FORM)
            scheme = scope.get("scheme", "http")
            form: dict[str, str] = {}
            if scope["method"] == "POST":
                csrf.check_origin(headers, scheme)
                form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if not route.public:
                if session is None and self.lookup is None and scope["method"] == "GET":
                    session = self.sessions.create(ANONYMOUS)  # no sign-in when the API needs none
                    extra.append(_set_cookie(session, scheme, self.sessions.ttl_s))
                if session is None:
                    if scope["method"] == "GET":
                        await respond(send, 303, [(b"location", url("/signin").encode())], b"")
                        return
                    raise errors.Forbidden("Sign in first: this session is unknown or has expired")
                if scope["method"] == "POST":
                    csrf.check_token(session.csrf, form, headers)
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            peer = scope.get("client")
            response = await route.handler(Request(scope["method"], params, query, form, headers, scheme, session,
                                                   peer[0] if peer else ""))
        except errors.HearthError as error:
            response = self._error(error.message, error.status, session)
        except Exception:
            log.exception("dashboard failed on %s %s", scope["method"], scope["path"])
            response = self._error("The dashboard failed on this request; see Hearth's log", 500, session)
        out = response.headers + extra + list(_SECURITY_HEADERS)
        if response.stream is not None:
            await send_stream(send, receive, response.status, out, response.body, response.stream)
            return
        await respond(send, response.status, out, response.body)

    def _match(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        route, params, allowed = match_route(self.routes, method, path)
        if route is not None:
            return route, params
        if allowed:
            raise errors.InvalidParameterValue(f"{method} is not allowed on {PREFIX}{path}")
        raise errors.ResourceNotFound(f"No dashboard page at {PREFIX}{path}")

    def _error(self, message: str, status: int, session: Session | None) -> Response:
        return self._page("Error", pages.error_page(message, status), session, status)

    def _page(self, title: str, body: str, session: Session | None, status: int = 200) -> Response:
        who = "" if session is None or session.key_id == ANONYMOUS else session.key_id
        markup = layout(title, body, None if session is None else session.csrf, who)
        return Response(status, markup.encode(), [(b"content-type", b"text/html; charset=utf-8")])

    async def _json(self, method: str, path: str, query: Mapping[str, str] | None = None, body: bytes = b"",
                    headers: Mapping[str, str] | None = None, session: Session | None = None) -> Any:
        caller = "" if session is None or session.key_id == ANONYMOUS else session.key_id
        response = await self.call(method, path, query, body, headers, caller)
        return orjson.loads(response.body) if response.body else None

    # -- sign-in -----------------------------------------------------------------------------------------------

    async def signin_page(self, request: Request) -> Response:
        if request.session is not None:
            return _redirect(url("/"))
        return self._page("Sign in", pages.signin(), None)

    async def signin(self, request: Request) -> Response:
        if self.lookup is None:
            session = self.sessions.create(ANONYMOUS)
        else:
            try:
                credentials = check_key(self.lookup, request.form.get("access_key_id", ""),
                                        request.form.get("secret", ""))
            except errors.Unauthorized as error:
                # Nothing typed is logged: a secret pasted into the wrong field would end up in the log.
                log.warning("dashboard: a sign-in from %s failed", request.client)
                return self._page("Sign in", pages.signin(error.message), None, 401)
            session = self.sessions.create(credentials.access_key_id)
        response = _redirect(url("/"))
        response.headers.append(_set_cookie(session, request.scheme, self.sessions.ttl_s))
        return response

    async def signout(self, request: Request) -> Response:
        assert request.session is not None
        self.sessions.end(request.session.token)
        response = _redirect(url("/signin"))
        response.headers.append(_clear_cookie(request.scheme))
        return response

    async def static_file(self, request: Request) -> Response:
        name = request.params["file"]
        if name not in self.static:
            raise errors.ResourceNotFound(f"No dashboard file {name}")
        return Response(200, self.static[name], [(b"content-type", _STATIC_TYPES[name])])

    # -- functions ---------------------------------------------------------------------------------------------

    async def functions_page(self, request: Request) -> Response:
        s = request.session
        listing = (await self._json("GET", "/2015-03-31/functions", {"MaxItems": "10000"}, session=s))["Functions"]
        stats = await self._json("GET", "/hearth/stats", {"since": "1h"}, session=s)
        instances = (await self._json("GET", "/hearth/instances", session=s))["instances"]
        records = (await self._json("GET", "/hearth/invocations", {"limit": "10000"}, session=s))["invocations"]
        last: dict[str, float] = {}
        for record in records:  # newest first
            last.setdefault(record["function"], record["start"])
        by_function: dict[str, list[Any]] = {}
        for instance in instances:
            if not instance.get("tuning"):
                by_function.setdefault(instance["function"], []).append(instance)
        body = pages.functions(listing, {item["function"]: item for item in stats["functions"]}, by_function, last,
                               await self._disabled(s))
        return self._page("Functions", body, s)

    async def _disabled(self, session: Session | None) -> dict[str, Any]:
        idle = await self._json("GET", "/hearth/idle", {"days": "3650"}, session=session)
        return {item["function"]: item["disabled"] for item in idle["functions"] if item.get("disabled")}

    async def function_page(self, request: Request, result: pages.InvokeResult | None = None, sent: str = "{}",
                            qualifier: str = "$LATEST", message: str | None = None, error: str | None = None,
                            status: int = 200) -> Response:
        s = request.session
        name = request.params["name"]
        path = "/2015-03-31/functions/" + _seg(name)
        info = await self._json("GET", path, session=s)
        versions = (await self._json("GET", path + "/versions", {"MaxItems": "10000"}, session=s))["Versions"]
        aliases = (await self._json("GET", path + "/aliases", {"MaxItems": "10000"}, session=s))["Aliases"]
        provisioned = (await self._json("GET", "/2019-09-30/functions/" + _seg(name) + "/provisioned-concurrency",
                                        {"List": "ALL", "MaxItems": "10000"},
                                        session=s))["ProvisionedConcurrencyConfigs"]
        window = request.query.get("window") or "1h"
        if window not in pages.WINDOWS:
            raise errors.InvalidParameterValue(f"window must be one of {', '.join(pages.WINDOWS)}, got {window!r}")
        stats = await self._json("GET", "/hearth/stats", {"function": name, "since": window}, session=s)
        figures = next((item for item in stats["functions"] if item["function"] == name), None)
        instances = [i for i in (await self._json("GET", "/hearth/instances", session=s))["instances"]
                     if i["function"] == name and not i.get("tuning")]
        recent = [entry for entry in await self._json("GET", "/hearth/logs", {"function": name, "limit": str(RECENT)},
                                                      session=s)
                  if entry.get("type") == "invocation"]
        disabled = (await self._disabled(s)).get(name)
        assert s is not None
        body = pages.function(name, info, versions, aliases, provisioned, figures, window, stats["since"],
                              stats["until"], instances, recent, disabled, s.csrf, result, sent, qualifier, message,
                              error)
        return self._page(name, body, s, status)

    async def invoke(self, request: Request) -> Response:
        name = request.params["name"]
        sent = request.form.get("payload", "") or "{}"
        qualifier = request.form.get("qualifier") or "$LATEST"
        try:
            orjson.loads(sent)
        except orjson.JSONDecodeError as exc:
            return await self.function_page(request, sent=sent, qualifier=qualifier,
                                            error=f"The payload is not JSON: {exc}", status=400)
        try:
            response = await self.call("POST", "/2015-03-31/functions/" + _seg(name) + "/invocations",
                                       {"Qualifier": qualifier}, sent.encode(), {"x-amz-log-type": "Tail"},
                                       _caller(request.session))
        except errors.HearthError as error:
            return await self.function_page(request, sent=sent, qualifier=qualifier, error=error.message,
                                            status=error.status)
        found = {key.decode().lower(): value.decode("latin-1") for key, value in response.headers}
        tail = base64.b64decode(found.get("x-amz-log-result", "")).decode("utf-8", "replace")
        try:
            shown = orjson.dumps(orjson.loads(response.body), option=orjson.OPT_INDENT_2).decode()
        except orjson.JSONDecodeError:
            shown = response.body.decode("utf-8", "replace")
        result = pages.InvokeResult(found.get("x-amzn-requestid", ""), qualifier,
                                    found.get("x-amz-executed-version", ""), shown,
                                    found.get("x-amz-function-error"), tail)
        return await self.function_page(request, result, sent, qualifier)

    async def invocation_page(self, request: Request) -> Response:
        name, request_id = request.params["name"], request.params["request_id"]
        entries = await self._json("GET", "/hearth/logs", {"function": name, "request_id": request_id, "limit": "1"},
                                   session=request.session)
        entry = next((item for item in entries if item.get("type") == "invocation"), None)
        return self._page(f"{name}: {request_id}", pages.invocation(name, entry, request_id), request.session,
                          200 if entry is not None else 404)

    async def set_weight(self, request: Request) -> Response:
        name, alias = request.params["name"], request.params["alias"]
        try:
            weight = int(request.form.get("weight", ""))
        except ValueError:
            weight = -1
        if not 0 <= weight <= 100:
            return await self.function_page(request, error="The weight must be a whole percentage from 0 to 100",
                                            status=400)
        version = request.form.get("version", "")
        if weight and not version:
            return await self.function_page(request, error="Choose the extra version that gets the weight",
                                            status=400)
        weights = {version: weight / 100} if weight else {}
        body: dict[str, Any] = {"RoutingConfig": {"AdditionalVersionWeights": weights}}
        if request.form.get("revision_id"):
            body["RevisionId"] = request.form["revision_id"]
        try:
            await self.call("PUT", "/2015-03-31/functions/" + _seg(name) + "/aliases/" + _seg(alias), None,
                            orjson.dumps(body), None, _caller(request.session))
        except errors.HearthError as error:
            return await self.function_page(request, error=f"Alias {alias} unchanged: {error.message}",
                                            status=error.status)
        return _redirect(url("/functions/" + _seg(name)) + "#aliases")

    async def toggle(self, request: Request) -> Response:
        name, action = request.params["name"], request.params["action"]
        body = orjson.dumps({"reason": "disabled from the dashboard"}) if action == "disable" else b""
        await self.call("POST", f"/hearth/functions/{_seg(name)}/{action}", None, body, None, _caller(request.session))
        return _redirect(_own(request.headers.get("referer")) or url("/functions/" + _seg(name)))

    # -- logs --------------------------------------------------------------------------------------------------

    def _log_query(self, request: Request) -> dict[str, str]:
        return {"function": request.query.get("function", ""), "filter": request.query.get("filter", ""),
                "status": request.query.get("status", "")}

    async def logs_page(self, request: Request) -> Response:
        filters = self._log_query(request)
        names = [item["FunctionName"] for item in
                 (await self._json("GET", "/2015-03-31/functions", {"MaxItems": "10000"},
                                   session=request.session))["Functions"]]
        entries = await self._json("GET", "/hearth/logs", {**filters, "limit": str(LOG_BACKLOG)},
                                   session=request.session)
        since = max((entry.get("time", 0.0) for entry in entries), default=self.clock())
        stream = url("/logs/stream", **filters, since=f"{since:.3f}")
        body = pages.logs(names, filters["function"], filters["filter"], filters["status"], entries, stream)
        return self._page("Live logs", body, request.session)

    async def logs_stream(self, request: Request) -> Response:
        """The log store followed (``/hearth/logs?follow=1``) as server-sent events: each entry's lines as one
        ``message`` (JSON), a ``lost`` event when the follow fell behind, a comment as the keep-alive. The entries
        from ``since`` on come first, so nothing stored between the page and the stream is missed (the page drops
        lines it has)."""
        query = {**self._log_query(request), "follow": "1", "format": "json", "limit": str(LOG_BACKLOG),
                 "since": request.query.get("since") or "1s"}
        answer = await self.call("GET", "/hearth/logs", query, b"", None, _caller(request.session))
        assert answer.stream is not None
        return Response(200, server_sent(answer.body), [(b"content-type", b"text/event-stream; charset=utf-8")],
                        stream=_events(answer.stream))

    # -- schedules, queues, cost, idle -------------------------------------------------------------------------

    async def schedules_page(self, request: Request) -> Response:
        found = (await self._json("GET", "/hearth/schedules", session=request.session))["schedules"]
        assert request.session is not None
        return self._page("Schedules", pages.schedules(found, request.session.csrf), request.session)

    async def schedule_action(self, request: Request) -> Response:
        name, action = request.params["name"], request.params["action"]
        await self.call("POST", f"/hearth/schedules/{_seg(name)}/{action}", None, b"", None, _caller(request.session))
        return _redirect(url("/schedules"))

    async def queues_page(self, request: Request) -> Response:
        found = (await self._json("GET", "/hearth/queues", session=request.session))["queues"]
        return self._page("Queues", pages.queues(found, self.clock()), request.session)

    async def cost_page(self, request: Request) -> Response:
        since = request.query.get("since") or "30d"
        by_function = await self._json("GET", "/hearth/cost", {"since": since, "by": "function"},
                                       session=request.session)
        by_day = await self._json("GET", "/hearth/cost", {"since": since, "by": "day"}, session=request.session)
        return self._page("Cost", pages.cost(by_function, by_day), request.session)

    async def idle_page(self, request: Request) -> Response:
        days = request.query.get("days") or "30"
        report = await self._json("GET", "/hearth/idle", {"days": days}, session=request.session)
        assert request.session is not None
        return self._page("Idle functions", pages.idle(report, request.session.csrf), request.session)


def server_sent(chunk: bytes) -> bytes:
    """NDJSON lines of ``/hearth/logs?follow=1`` as server-sent events (see ``Dashboard.logs_stream``)."""
    out = []
    for line in chunk.splitlines():
        if not line.strip():
            continue
        doc = orjson.loads(line)
        kind = doc.get("type")
        if kind == "hearth.keepalive":
            out.append(b": keepalive\n\n")
        elif kind == "hearth.lost":
            out.append(b"event: lost\ndata: " + orjson.dumps({"count": doc.get("count", 0)}) + b"\n\n")
        else:
            out.append(b"data: " + orjson.dumps(pages.log_line(doc)) + b"\n\n")
    return b"".join(out)


async def _events(stream: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in stream:
            events = server_sent(chunk)
            if events:
                yield events
    finally:
        await stream.aclose()


def _seg(name: str) -> str:
    return quote(name, safe="")


def _caller(session: Session | None) -> str:
    return "" if session is None or session.key_id == ANONYMOUS else session.key_id


def _own(referer: str | None) -> str | None:
    """The path of a Referer that is one of the dashboard's pages (only the path: a redirect never leaves)."""
    if not referer:
        return None
    path = "/" + referer.split("://", 1)[-1].partition("/")[2]
    return path if path.startswith(PREFIX + "/") and not path.startswith("//") else None


def _redirect(location: str) -> Response:
    return Response(303, b"", [(b"location", location.encode())])


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _set_cookie(session: Session, scheme: str, ttl_s: float) -> tuple[bytes, bytes]:
    secure = "; Secure" if scheme == "https" else ""
    return (b"set-cookie", f"{COOKIE}={session.token}; Path={PREFIX}; HttpOnly; SameSite=Strict; "
                           f"Max-Age={int(ttl_s)}{secure}".encode())


def _clear_cookie(scheme: str) -> tuple[bytes, bytes]:
    secure = "; Secure" if scheme == "https" else ""
    return (b"set-cookie", f"{COOKIE}=; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age=0{secure}".encode())
