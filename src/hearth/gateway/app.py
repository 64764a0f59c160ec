"""The gateway: a raw ASGI app that turns HTTP requests into invocations, as API Gateway HTTP APIs do.

Failures answer with API Gateway's statuses (404 no route, 413 too large, 429 throttled, 502 function error,
503 server not started, 504 timeout). With ``expose_errors`` (``hearth dev``) the body also carries the
function's ``errorType``, ``errorMessage`` and ``stackTrace``; a production server answers only
``{"message": "Internal Server Error"}`` and the details stay in the logs.

A Vercel project (its site's ``Front.vercel``, ``gateway/vercel_site.py``) is served in Vercel's order:
``vercel.json`` routing, static files, the ``api/`` functions, the 404 page. A status a rule sets replaces the
response's, streamed ones included.

A function whose instance can stream its response (a Python entry point: WSGI, ASGI, ``BaseHTTPRequestHandler``)
sends it through the request's ``StreamedResponse`` (``streaming.py``) as the app produces it; a response made in
one piece comes back as the invocation's payload, like any function's.

A route with ``async = true`` stores the request's event as an asynchronous invocation
(``triggers/async_invoke.py``) and answers 202 once it is durable, with ``{"requestId": …}``.

A route with ``auth`` (``auth.py``) checks the caller's bearer token before anything else: a refused request
answers 401 (``WWW-Authenticate: Bearer``), 403 or 503 and reaches no function and no proxied server.

A route whose target resolves to an ``http`` function (a server process) is proxied instead: the request and the
response stream through ``hearth.runtimes.http`` unchanged but for the reverse proxy's header rules; an upgrade
request (a WebSocket) becomes a byte tunnel to the server once it agrees (``hearth.tunnel``, in
``hearth.http_server``).

The platform's response policy (``policy.py``: header rules and CORS) answers CORS preflights itself and
finishes the headers of every response, proxied ones and the gateway's own errors included.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.asgi import Headers, Message, Receive, Scope, Send, read_body, respond, too_large
from hearth.gateway import external, static
from hearth.gateway.events import build_event, map_result
from hearth.gateway.forwarded import Edge
from hearth.gateway.policy import ResponsePolicy
from hearth.gateway.rewrites import External, Redirect, Serve
from hearth.gateway.routes import Match, strip_prefix
from hearth.gateway.sites import Front
from hearth.gateway.static import StaticFile
from hearth.gateway.streaming import StreamedResponse
from hearth.gateway.tracing import TRACEPARENT, XRAY, trace_of
from hearth.gateway.vercel_site import VercelSite, params_query, replace_headers, send_static
from hearth.ids import new_request_id
from hearth.model import ASYNC_PAYLOAD_LIMIT, ASYNC_PAYLOAD_PURPOSE, HTTP_RUNTIME, FunctionSpec
from hearth.pool.instance import InvokeRequest
from hearth.runtimes.http.websocket import upgrade_requested

if TYPE_CHECKING:
    from hearth.platform import Platform

log = logging.getLogger("hearth.gateway")
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
REQUEST_ID_HEADER = b"x-amzn-requestid"
EXECUTED_VERSION_HEADER = b"x-amz-executed-version"
_JSON = (b"content-type", b"application/json")
_GATEWAY_MESSAGES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 413: "Request Entity Too Large",
                     429: "Too Many Requests",
                     500: "Internal Server Error", 502: "Internal Server Error", 503: "Service Unavailable",
                     504: "Endpoint request timed out"}


class Gateway:
    """The data-plane ASGI application."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        settings = platform.settings
        self.expose_errors = settings.expose_errors
        self.edge = Edge(settings.trusted_proxies, settings.https_redirect) if settings.trusted_proxies else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off
        request_id = new_request_id()
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        if self.edge is not None:
            location = self.edge.resolve(scope)
            if location is not None:  # a trusted proxy says the client used plain http
                await respond(send, 301, [id_header, (b"location", location)], b"")
                return
        front = self.platform.sites.front(scope["headers"])
        if front.cors and scope["method"] == "OPTIONS":
            answer = front.preflight(scope["path"], scope["headers"])
            if answer is not None:  # a CORS preflight: the gateway answers it, no function runs
                status, headers = answer
                headers.append(id_header)
                await respond(send, status, headers, b"")
                return
        if front.vercel is not None:
            await self._vercel(front.vercel, front, scope, receive, send, request_id, id_header)
            return
        match = None
        try:
            match = front.match(scope["method"], scope["path"], scope["headers"])
            if match is None:
                raise errors.RouteNotFound(f"No route matches {scope['method']} {scope['path']}; "
                                           "check the routes in the manifest")
            result = await self._function(scope, receive, send, request_id, id_header, match, front)
            if result is None:
                return  # a server's response went out as it streamed
            status, headers, data = result
        except errors.HearthError as error:
            status, headers, data = self._error(error, id_header)
        except Exception:  # a bug in Hearth itself: answer 500, say so in the log, keep serving
            status, headers, data = self._bug(request_id, id_header)
        policy = front.policy(match.route) if match is not None else front.fallback(scope["path"])
        if policy is not None:  # the one place a response's headers become final: header rules, then CORS
            headers = policy.finish(scope["path"], scope["headers"], headers)
        await respond(send, status, headers, data)

    async def _function(self, scope: Scope, receive: Receive, send: Send, request_id: str,
                        id_header: tuple[bytes, bytes], match: Match, front: Front,
                        extra: tuple[tuple[bytes, bytes], ...] = ()) -> tuple[int, Headers, bytes] | None:
        """Run the function ``match`` routes to: its mapped response, or None when its response has already gone
        to the client (a server's, proxied, or one an entry point streamed; ``extra`` headers are set on it too);
        raises ``HearthError``. The function sees the path without the route's ``strip_prefix``."""
        route = match.route
        authorizer = None
        if route.auth is not None:  # before anything else: a refused caller learns nothing of the target
            try:
                authorizer = await front.authorize(route, scope["headers"])
            except (errors.Unauthorized, errors.Forbidden, errors.AuthorizerUnavailable) as error:
                log.warning("request %s to %s refused (%s): %s", request_id, route.route_key(scope["method"]),
                            error.error_type, error.reason or error.message)
                raise
        spec = self._target(scope, route.function, route.qualifier)
        server = spec.runtime == HTTP_RUNTIME  # (the one runtime name of the http family)
        if not server and upgrade_requested(scope) == b"websocket":
            raise errors.InvalidRequestContent(
                f"function {spec.name} is not an HTTP server (runtime {spec.runtime!r}); only functions with "
                'runtime = "http" take WebSocket connections')
        seen = strip_prefix(scope, route.strip_prefix) if route.strip_prefix else scope
        trace = trace_of(scope["headers"])
        xray = trace.xray()
        traced = ((TRACEPARENT, trace.traceparent().encode()), (XRAY, xray.encode()))
        seen_headers = replace_headers(seen["headers"], traced)  # what the function sees
        version = (EXECUTED_VERSION_HEADER, spec.version.encode())

        def finish(headers: Headers) -> Headers:  # of a response that streams (a server's, or an entry point's)
            return self._proxied_headers(scope, front.policy(route), replace_headers(headers, extra), id_header,
                                         version, *traced)

        if server:
            await self.platform.server(spec).serve(dict(seen, headers=seen_headers), receive, send, request_id,
                                                   finish, xray)
            return None
        if route.asynchronous:  # Lambda's Event limit, refused from Content-Length before the body is read
            body = await read_body(scope, receive, ASYNC_PAYLOAD_LIMIT, ASYNC_PAYLOAD_PURPOSE)
        else:
            body = await read_body(scope, receive, MAX_SYNC_PAYLOAD)
        event = build_event(seen, body, match, request_id, authorizer, seen_headers)
        if route.asynchronous:  # stored, then run by the platform's dispatcher: the client hears only that
            payload = orjson.dumps(event)
            if len(payload) > ASYNC_PAYLOAD_LIMIT:  # the body fits, but not with the request's headers around it
                raise errors.RequestTooLarge(too_large(
                    len(payload), ASYNC_PAYLOAD_LIMIT,
                    f"{ASYNC_PAYLOAD_PURPOSE} (its event: the body, base64 if binary, and the request's headers)"))
            await self.platform.async_invoker.accept(route.function, route.qualifier, payload, request_id,
                                                     trace_id=xray)
            return 202, [id_header, _JSON, *traced], orjson.dumps({"requestId": request_id})
        stream = StreamedResponse(send, receive, finish)
        try:
            alias = route.qualifier if route.qualifier is not None and not route.qualifier.isdigit() else None
            invocation = await self.platform.run(spec, InvokeRequest(request_id, event, trace_id=xray,
                                                                     stream=stream, alias=alias))
        except Exception:
            if not stream.started:
                raise
            log.exception("gateway failed on request %s after its response began", request_id)  # cut off
        if stream.started:  # the response went out as the function produced it (cut off if it failed)
            await stream.closed()
            return None
        if invocation.error is not None:
            raise invocation.error
        assert invocation.payload is not None
        status, headers, data = map_result(invocation.payload)
        headers.append(id_header)
        headers.append(version)
        headers.extend(traced)
        return status, headers, data

    async def _vercel(self, site: VercelSite, front: Front, scope: Scope, receive: Receive, send: Send,
                      request_id: str, id_header: tuple[bytes, bytes]) -> None:
        """Serve a request to a Vercel project (``gateway/vercel_site.py``): its routing, then its static files,
        then its functions, then its 404 page."""
        path = scope["path"]
        match = None
        extra: tuple[tuple[bytes, bytes], ...] = ()
        forced: int | None = None
        try:
            decision = site.route(scope)
            if isinstance(decision, Redirect):
                headers = [id_header, (b"location", decision.location.encode("latin-1")), *decision.headers]
                await respond(send, decision.status, headers, b"")
                return
            if isinstance(decision, External):
                policy = front.fallback(path)
                extra = decision.headers

                def finish(headers: Headers) -> Headers:
                    headers = replace_headers(headers, extra)
                    headers.append(id_header)
                    return policy.finish(path, scope["headers"], headers) if policy is not None else headers

                await external.forward(decision.url, scope, receive, _forced(send, decision.status), request_id,
                                       finish)
                return
            if isinstance(decision, Serve):
                path, extra, forced = decision.path, decision.headers, decision.status
                if decision.query.encode("latin-1") != scope["query_string"]:
                    scope = dict(scope, query_string=decision.query.encode("latin-1"))
            file = await site.lookup(path)
            if file is not None:
                await self._static(scope, send, file, id_header, extra, forced or 200, front.fallback(path))
                return
            match = front.match(scope["method"], path, scope["headers"])
            if match is None:
                page = await site.not_found_page() if forced in (None, 404) else None
                if page is not None:
                    await self._static(scope, send, page, id_header, extra, 404, front.fallback(path))
                    return
                if forced is not None:
                    raise errors.RouteStatus(f"vercel.json answers {path} with status {forced} and nothing serves "
                                             "it", forced)
                raise errors.RouteNotFound(f"Nothing serves {scope['method']} {path}: no static file, and no "
                                           "function in api/ matches it")
            if match.params:
                scope = dict(scope, query_string=params_query(scope["query_string"], match.params))
            answer = await self._function(scope, receive, _forced(send, forced), request_id, id_header, match,
                                          front, extra)
            if answer is None:
                return
            status, headers, data = answer
            status = forced or status
        except errors.HearthError as error:
            status, headers, data = self._error(error, id_header)
        except Exception:
            status, headers, data = self._bug(request_id, id_header)
        headers = replace_headers(headers, extra)
        policy = front.policy(match.route) if match is not None else front.fallback(path)
        if policy is not None:
            headers = policy.finish(scope["path"], scope["headers"], headers)
        await respond(send, status, headers, data)

    @staticmethod
    async def _static(scope: Scope, send: Send, file: StaticFile, id_header: tuple[bytes, bytes],
                      extra: tuple[tuple[bytes, bytes], ...], status: int, policy: ResponsePolicy | None) -> None:
        response = static.respond(file, scope["method"], scope["headers"], status=status)
        headers = replace_headers(response.headers, extra)
        headers.append(id_header)
        if policy is not None:
            headers = policy.finish(scope["path"], scope["headers"], headers)
        await send_static(send, response, headers)

    def _error(self, error: errors.HearthError, id_header: tuple[bytes, bytes]) -> tuple[int, Headers, bytes]:
        return error.status, self._error_headers(error, id_header), orjson.dumps(self._error_body(error))

    def _bug(self, request_id: str, id_header: tuple[bytes, bytes]) -> tuple[int, Headers, bytes]:
        log.exception("gateway failed on request %s", request_id)
        failure = errors.ServiceError(f"Hearth failed to serve request {request_id}; see the platform log")
        return 500, [id_header, _JSON], orjson.dumps(self._error_body(failure))

    def _target(self, scope: Scope, function: str, qualifier: str | None) -> FunctionSpec:
        """The version a route's target runs for this request (an alias's header rules see its headers)."""
        headers: dict[str, str] | None = None
        if qualifier is not None:
            headers = {}
            for raw_name, raw_value in scope["headers"]:
                name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
                previous = headers.get(name)
                headers[name] = value if previous is None else f"{previous},{value}"
        return self.platform.catalog.resolve(function, qualifier, headers)

    @staticmethod
    def _proxied_headers(scope: Scope, policy: ResponsePolicy | None, headers: Headers,
                         *extra: tuple[bytes, bytes]) -> Headers:
        """The one place where a proxied server response's headers are finalised before they go out (the
        server's own, hop-by-hop ones removed, then the gateway's, then the response policy)."""
        headers.extend(extra)
        if policy is not None:
            headers = policy.finish(scope["path"], scope["headers"], headers)
        return headers

    def _error_body(self, error: errors.HearthError) -> dict[str, Any]:
        body: dict[str, Any] = {"message": _GATEWAY_MESSAGES.get(error.status, error.message)}
        if isinstance(error, errors.FunctionFailure) and not self.expose_errors:
            return body
        if isinstance(error, errors.ServiceError) and not self.expose_errors:
            return body
        body.update(error.to_payload())
        return body

    @staticmethod
    def _error_headers(error: errors.HearthError, id_header: tuple[bytes, bytes]) -> Headers:
        headers: Headers = [id_header, _JSON]
        if isinstance(error, errors.Unauthorized):
            headers.append((b"www-authenticate", b"Bearer"))
        if isinstance(error, errors.TooManyRequests):
            headers.append((b"retry-after", str(error.retry_after_s).encode()))
        if isinstance(error, errors.FunctionFailure):
            headers.append((b"x-amz-function-error", error.function_error.encode()))
        return headers


def _forced(send: Send, status: int | None) -> Send:
    """``send`` for a response whose status a Vercel rule sets (``statusCode``, a route's ``status``): the status of
    a response that streams (a proxied server's, an external origin's, an entry point's) is replaced as it starts.
    A WebSocket's 101 is left alone: it changes the protocol, not the answer."""
    if status is None:
        return send

    async def forced(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] != 101:
            message = {**message, "status": status}
        await send(message)

    return forced
