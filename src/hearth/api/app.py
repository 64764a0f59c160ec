"""The control API: Lambda's REST shapes (so boto3 and the AWS CLI work) plus Hearth's native endpoints.

Route table, top to bottom (``{name}`` is a function name or ARN; ``?Qualifier=`` picks a version or alias):

    POST   /2015-03-31/functions                              CreateFunction
    GET    /2015-03-31/functions                              ListFunctions (Marker, MaxItems, FunctionVersion=ALL)
    GET    /2015-03-31/functions/{name}                       GetFunction
    DELETE /2015-03-31/functions/{name}                       DeleteFunction (a version with ?Qualifier=)
    GET    /2015-03-31/functions/{name}/configuration         GetFunctionConfiguration
    PUT    /2015-03-31/functions/{name}/configuration         UpdateFunctionConfiguration
    PUT    /2015-03-31/functions/{name}/code                  UpdateFunctionCode
    POST   /2015-03-31/functions/{name}/versions              PublishVersion
    GET    /2015-03-31/functions/{name}/versions              ListVersionsByFunction
    POST   /2015-03-31/functions/{name}/aliases               CreateAlias
    GET    /2015-03-31/functions/{name}/aliases               ListAliases
    GET    /2015-03-31/functions/{name}/aliases/{alias}       GetAlias
    PUT    /2015-03-31/functions/{name}/aliases/{alias}       UpdateAlias
    DELETE /2015-03-31/functions/{name}/aliases/{alias}       DeleteAlias
    PUT    /2017-10-31/functions/{name}/concurrency           PutFunctionConcurrency
    GET    /2019-09-30/functions/{name}/concurrency           GetFunctionConcurrency
    DELETE /2017-10-31/functions/{name}/concurrency           DeleteFunctionConcurrency
    PUT    /2019-09-30/functions/{name}/provisioned-concurrency   Put/Get/DeleteProvisionedConcurrencyConfig
    PUT    /2019-09-25/functions/{name}/event-invoke-config   PutFunctionEventInvokeConfig (whole config)
    POST   /2019-09-25/functions/{name}/event-invoke-config   UpdateFunctionEventInvokeConfig (the fields given)
    GET    /2019-09-25/functions/{name}/event-invoke-config   GetFunctionEventInvokeConfig
    DELETE /2019-09-25/functions/{name}/event-invoke-config   DeleteFunctionEventInvokeConfig
    GET    /2019-09-25/functions/{name}/event-invoke-config/list  ListFunctionEventInvokeConfigs (Marker, MaxItems)
    POST   /2015-03-31/functions/{name}/invocations           Invoke (RequestResponse, Event, DryRun)
    GET    /hearth/health                                     readiness (never needs credentials)
    GET    /hearth/doctor                                     what the host enforces for instances (hearth doctor)
    GET    /hearth/openapi.json                               this API's OpenAPI 3.0 description (no credentials)
    POST   /hearth/deploy                                     a project package (zip with hearth.toml)
    GET    /hearth/instances                                  live instances
    GET    /hearth/invocations?function=&request_id=&limit=   recent invocation records (in memory)
    GET    /hearth/logs?function=&since=&filter=&follow=1&…   the log store: query, or follow as a stream (api/logs.py)
    GET    /hearth/stats?function=&since=&until=              rate, errors, duration percentiles, cold starts
    GET    /hearth/cost?since=&until=&by=&function=           metered usage and its cost (api/cost.py)
    GET    /hearth/idle?days=                                 functions without invocations, and disabled ones
    GET    /hearth/audit?function=&limit=                     the audit log of disabling and enabling
    POST   /hearth/functions/{name}/disable (or /enable)      switch a function off (or back on)
    POST   /hearth/tune/{name}                                power tuning: run at several memory sizes (api/tune.py)
    GET    /hearth/projects                                   projects on the gateway: hosts, prefix, rules, routes
    DELETE /hearth/projects/{name}                            a project's site and routes (its functions stay)
    GET    /metrics                                           Prometheus metrics (bearer token or SigV4)
    GET    /hearth/schedules                                  schedules: target, expression, next and last tick
    POST   /hearth/schedules/{name}/pause (or /resume)        stop (or restart) a schedule's firing
    GET    /hearth/queues                                     queues: settings and message counts
    GET    /hearth/secrets                                    secrets: names, versions, users (never values)
    POST   /hearth/secrets/rotate-key                         re-seal every secret with a new master key
    PUT    /hearth/secrets/{name}                             set a secret ({"value": …}; api/secrets.py)
    DELETE /hearth/secrets/{name}                             remove a secret
    POST   /                                                  SQS (X-Amz-Target: AmazonSQS.*; see api/sqs.py)
    *      /dashboard/…                                       the web dashboard (its own sign-in; dashboard/app.py)

Every other request is authenticated first (SigV4 as botocore signs, for the ``lambda`` service, or ``sqs`` on
SQS's route; or a bearer token) unless the platform runs without authentication (``hearth dev`` on loopback).
Errors carry ``x-amzn-ErrorType`` and Lambda's JSON error body, which botocore turns into its exception classes;
SQS's route answers SQS's JSON errors instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from hearth import __version__, doctor, errors
from hearth.api import auth, openapi
from hearth.api.cost import CostApi
from hearth.api.deploy import DeployApi
from hearth.api.event_sources import EventSourceMappingApi
from hearth.api.idle import IdleApi
from hearth.api.lambda_api import ApiRequest, ApiResponse, LambdaApi, invoke_body_limit, ok
from hearth.api.logs import LogsApi
from hearth.api.projects import ProjectsApi
from hearth.api.schedules import SchedulesApi
from hearth.api.secrets import MAX_BODY as MAX_SECRET_BODY
from hearth.api.secrets import SecretsApi
from hearth.api.sqs import MAX_REQUEST as MAX_SQS_REQUEST
from hearth.api.sqs import SqsApi, render_error
from hearth.api.stats import StatsApi
from hearth.api.tune import TuneApi
from hearth.asgi import (
    Headers,
    Receive,
    Scope,
    Send,
    match_route,
    read_body,
    respond,
    respond_json,
    send_stream,
)
from hearth.dashboard.app import Dashboard
from hearth.ids import new_request_id
from hearth.model import SYNC_PAYLOAD_LIMIT, InvocationRecord
from hearth.secrets.keys import encode_key
from hearth.telemetry.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from hearth.platform import Platform

log = logging.getLogger("hearth.api")
MAX_INVOKE_PAYLOAD = SYNC_PAYLOAD_LIMIT
MAX_CODE_REQUEST = 70 * 1024 * 1024  # a 50 MB zip, base64-encoded in JSON
MAX_DEPLOY_PACKAGE = 256 * 1024 * 1024
Operation = Callable[[ApiRequest], Awaitable[ApiResponse]]
ErrorRenderer = Callable[[Send, errors.HearthError, str], Awaitable[None]]
BodyLimit = Callable[[Headers], tuple[int, str]]
_NAME = r"(?P<name>[^/]+)"


class _Route:
    __slots__ = ("method", "pattern", "operation", "max_body", "body_limit", "public", "services", "render")

    def __init__(self, method: str, pattern: str, operation: Operation, max_body: int = 1024 * 1024,
                 public: bool = False, services: tuple[str, ...] = (auth.SERVICE,),
                 render: ErrorRenderer | None = None, body_limit: BodyLimit | None = None) -> None:
        self.method = method
        self.pattern = re.compile("^" + pattern + "/?$")
        self.operation = operation
        self.max_body = max_body  # the largest body the route takes
        self.body_limit = body_limit  # a lower limit by the request's headers (Invoke's Event), and what it is for
        self.public = public
        self.services = services  # what a SigV4 signature may be scoped to
        self.render = render or _error


class ControlApi:
    """The control-plane ASGI application; ``lookup`` is None when authentication is off."""

    def __init__(self, platform: Platform, lookup: auth.Lookup | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.lookup = lookup
        if lookup is not None:  # the admin key, and the SQS-only key functions sign with
            functions = auth.keyring([platform.function_credentials])
            self.lookup = lambda key: lookup(key) or functions(key)
        self.clock = clock
        self.lambda_api = LambdaApi(platform, platform.catalog.code)
        self.deploy_api = DeployApi(platform, platform.catalog.code)
        projects = ProjectsApi(platform)
        schedules = SchedulesApi(platform)
        self.sqs_api = SqsApi(platform)
        mappings = EventSourceMappingApi(platform)
        logs = LogsApi(platform)
        idle = IdleApi(platform)
        secrets = SecretsApi(platform)
        api = self.lambda_api
        fn = "/2015-03-31/functions/" + _NAME
        eic = "/2019-09-25/functions/" + _NAME + "/event-invoke-config"
        self.routes = [
            _Route("POST", "/2015-03-31/functions", api.create_function, MAX_CODE_REQUEST),
            _Route("GET", "/2015-03-31/functions", api.list_functions),
            _Route("GET", fn, api.get_function),
            _Route("DELETE", fn, api.delete_function),
            _Route("GET", fn + "/configuration", api.get_configuration),
            _Route("PUT", fn + "/configuration", api.update_configuration),
            _Route("PUT", fn + "/code", api.update_code, MAX_CODE_REQUEST),
            _Route("POST", fn + "/versions", api.publish_version),
            _Route("GET", fn + "/versions", api.list_versions),
            _Route("POST", fn + "/aliases", api.create_alias),
            _Route("GET", fn + "/aliases", api.list_aliases),
            _Route("GET", fn + "/aliases/(?P<alias>[^/]+)", api.get_alias),
            _Route("PUT", fn + "/aliases/(?P<alias>[^/]+)", api.update_alias),
            _Route("DELETE", fn + "/aliases/(?P<alias>[^/]+)", api.delete_alias),
            _Route("PUT", "/2017-10-31/functions/" + _NAME + "/concurrency", api.put_concurrency),
            _Route("GET", "/2019-09-30/functions/" + _NAME + "/concurrency", api.get_concurrency),
            _Route("DELETE", "/2017-10-31/functions/" + _NAME + "/concurrency", api.delete_concurrency),
            _Route("PUT", "/2019-09-30/functions/" + _NAME + "/provisioned-concurrency", api.put_provisioned),
            _Route("GET", "/2019-09-30/functions/" + _NAME + "/provisioned-concurrency", api.get_provisioned),
            _Route("DELETE", "/2019-09-30/functions/" + _NAME + "/provisioned-concurrency", api.delete_provisioned),
            _Route("PUT", eic, api.put_event_invoke_config),
            _Route("POST", eic, api.update_event_invoke_config),
            _Route("GET", eic, api.get_event_invoke_config),
            _Route("DELETE", eic, api.delete_event_invoke_config),
            _Route("GET", eic + "/list", api.list_event_invoke_configs),
            _Route("POST", fn + "/invocations", api.invoke, MAX_INVOKE_PAYLOAD, body_limit=invoke_body_limit),
            _Route("GET", "/hearth/health", self.health, public=True),
            _Route("GET", "/hearth/openapi.json", self.openapi, public=True),
            _Route("GET", "/hearth/doctor", self.doctor),
            _Route("POST", "/hearth/deploy", self.deploy_api.deploy, MAX_DEPLOY_PACKAGE),
            _Route("GET", "/hearth/instances", self.instances),
            _Route("GET", "/hearth/invocations", self.invocations),
            _Route("GET", "/hearth/logs", logs.logs),
            _Route("GET", "/hearth/stats", StatsApi(platform).stats),
            _Route("GET", "/hearth/cost", CostApi(platform).cost),
            _Route("GET", "/hearth/idle", idle.idle),
            _Route("GET", "/hearth/audit", idle.audit),
            _Route("POST", "/hearth/functions/" + _NAME + "/disable", idle.disable),
            _Route("POST", "/hearth/functions/" + _NAME + "/enable", idle.enable),
            _Route("POST", "/hearth/tune/" + _NAME, TuneApi(platform).tune, MAX_INVOKE_PAYLOAD + 64 * 1024),
            _Route("GET", "/hearth/projects", projects.list_projects),
            _Route("DELETE", "/hearth/projects/" + _NAME, projects.delete_project),
            _Route("POST", "/2015-03-31/event-source-mappings/?", mappings.create),
            _Route("GET", "/2015-03-31/event-source-mappings/?", mappings.list),
            _Route("GET", "/2015-03-31/event-source-mappings/(?P<uuid>[^/]+)", mappings.get),
            _Route("PUT", "/2015-03-31/event-source-mappings/(?P<uuid>[^/]+)", mappings.update),
            _Route("DELETE", "/2015-03-31/event-source-mappings/(?P<uuid>[^/]+)", mappings.delete),
            _Route("GET", "/metrics", self.metrics),
            _Route("GET", "/hearth/schedules", schedules.list_schedules),
            _Route("POST", "/hearth/schedules/" + _NAME + "/pause", schedules.pause),
            _Route("POST", "/hearth/schedules/" + _NAME + "/resume", schedules.resume),
            _Route("GET", "/hearth/queues", self.list_queues),
            _Route("GET", "/hearth/secrets", secrets.list_secrets),
            _Route("POST", "/hearth/secrets/rotate-key", secrets.rotate_key),
            _Route("PUT", "/hearth/secrets/" + _NAME, secrets.put_secret, MAX_SECRET_BODY),
            _Route("DELETE", "/hearth/secrets/" + _NAME, secrets.delete_secret),
            _Route("POST", "", self.sqs_api.call, MAX_SQS_REQUEST, services=("sqs",), render=render_error),
        ]
        # Signs in with the admin key only: a function's SQS key cannot (``dashboard/sessions.py``).
        self.dashboard = Dashboard(self.call, lookup, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/dashboard" or scope["path"].startswith("/dashboard/"):
            await self.dashboard(scope, receive, send)
            return
        request_id = new_request_id()
        render: ErrorRenderer = _error
        try:
            route, params = self._match(scope["method"], scope["path"])
            render = route.render
            limit, purpose = route.body_limit(scope["headers"]) if route.body_limit else (route.max_body, "")
            body = await read_body(scope, receive, limit, purpose)  # refused from Content-Length before reading
            caller = ""
            if self.lookup is not None and not route.public:
                credentials = auth.verify(scope["method"], scope.get("raw_path") or scope["path"].encode(),
                                          scope["query_string"], scope["headers"], body, self.lookup, self.clock(),
                                          route.services)
                if not credentials.allows(route.services):
                    raise errors.AccessDenied(f"The key {credentials.access_key_id} is a function's and may only "
                                              f"call {', '.join(sorted(credentials.services or ()))}; use the admin "
                                              "key for this operation")
                caller = credentials.access_key_id
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            response = await route.operation(ApiRequest(request_id, params, query, headers, body, caller))
            if not any(name == b"x-amzn-requestid" for name, _ in response.headers):
                response.headers.append((b"x-amzn-requestid", request_id.encode()))
            if response.stream is not None:
                await send_stream(send, receive, response.status, response.headers, response.body,
                                  response.stream)
                return
            await respond(send, response.status, response.headers, response.body)
        except errors.HearthError as error:
            await render(send, error, request_id)
        except Exception:
            log.exception("control API failed on request %s", request_id)
            await render(send, errors.ServiceError(f"Hearth failed on request {request_id}; see its log"),
                         request_id)

    async def call(self, method: str, path: str, query: Mapping[str, str] | None = None, body: bytes = b"",
                   headers: Mapping[str, str] | None = None, caller: str = "") -> ApiResponse:
        """Run one operation of the route table in-process for a caller already authenticated (the dashboard's
        session): the same validation and effects as the request over HTTP; errors are raised, not rendered."""
        route, params = self._match(method, path)
        if len(body) > route.max_body:
            raise errors.RequestTooLarge(f"Request must be smaller than {route.max_body} bytes, got {len(body)} "
                                         "bytes")
        request = ApiRequest(new_request_id(), params, dict(query or {}), dict(headers or {}), body, caller)
        return await route.operation(request)

    def _match(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        route, params, allowed = match_route(self.routes, method, path)
        if route is not None:
            return route, params
        if allowed:
            raise errors.InvalidParameterValue(f"{method} is not an operation on {path}; "
                                               f"use {' or '.join(sorted(set(allowed)))}")
        raise errors.ResourceNotFound(f"No control API operation at {method} {path}")

    async def metrics(self, request: ApiRequest) -> ApiResponse:
        body = await self.platform.metrics.render()
        return ApiResponse(200, body, [(b"content-type", CONTENT_TYPE.encode())])

    async def health(self, request: ApiRequest) -> ApiResponse:
        limiter = self.platform.limiter
        return ok({"status": "ok", "functions": sorted(self.platform.catalog.functions),
                   "memory_enforcement": limiter.memory.description if limiter else None,
                   "cpu_enforcement": limiter.cpu.description if limiter else None,
                   "process_enforcement": limiter.processes.description if limiter else None,
                   "authentication": self.lookup is not None})

    async def doctor(self, request: ApiRequest) -> ApiResponse:
        """What this host enforces for function instances, and what it falls back to (as `hearth doctor`)."""
        settings = self.platform.settings
        key = self.platform.vault.key
        host = doctor.Host(data_dir=settings.data_dir,
                           master_key_env=encode_key(key.key) if key.from_environment else None,
                           in_memory_key=key.path is None and not key.from_environment,
                           search_path=settings.base_env.get("PATH", os.defpath),
                           memory_enforcement=settings.memory_enforcement,
                           cpu_follows_memory=settings.cpu_follows_memory, instance_user=settings.instance_user,
                           limits=self.platform.limiter)
        try:  # the sandbox's trial run is a child process: off the loop
            checks = await asyncio.to_thread(doctor.report, host)
        except doctor.ProbeFailed as exc:
            raise errors.ServiceError(f"hearth doctor could not finish: {exc}") from None
        return ok({"checks": doctor.as_json(checks)})

    async def openapi(self, request: ApiRequest) -> ApiResponse:
        """This API's OpenAPI 3.0 description, made from the route table."""
        return ok(openapi.describe(self.routes, __version__))

    async def instances(self, request: ApiRequest) -> ApiResponse:
        return ok({"instances": self.platform.instances()})

    async def invocations(self, request: ApiRequest) -> ApiResponse:
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            raise errors.InvalidParameterValue("limit must be a whole number") from None
        records = self.platform.records.query(request.query.get("function"), request.query.get("request_id"),
                                              limit)
        return ok({"invocations": [_record_json(record) for record in records]})

    async def list_queues(self, request: ApiRequest) -> ApiResponse:
        listing = []
        for spec in sorted(self.platform.catalog.queues.values(), key=lambda item: item.name):
            stats = await self.platform.events.stats(spec.name)
            listing.append({"name": spec.name, "arn": spec.arn, "site": spec.site, "visible": stats.visible,
                            "in_flight": stats.in_flight, "delayed": stats.delayed,
                            "oldest_sent_at": stats.oldest_sent_at,
                            "visibility_timeout_s": spec.visibility_timeout_s,
                            "message_retention_s": spec.message_retention_s, "delay_s": spec.delay_s,
                            "dead_letter_queue": spec.dead_letter_queue,
                            "max_receive_count": spec.max_receive_count,
                            "receivers_waiting": self.platform.queues.waiting(spec.name)})
        return ok({"queues": listing})


def _record_json(record: InvocationRecord) -> dict[str, Any]:
    value = record._asdict()
    value["cold"] = record.cold
    return value


async def _error(send: Send, error: errors.HearthError, request_id: str) -> None:
    headers = [(b"x-amzn-errortype", error.error_type.encode()), (b"x-amzn-requestid", request_id.encode())]
    if isinstance(error, errors.TooManyRequests):
        headers.append((b"retry-after", str(error.retry_after_s).encode()))
    body: dict[str, Any] = {"Type": "User" if error.status < 500 else "Service", "message": error.message}
    await respond_json(send, error.status, body, headers)

