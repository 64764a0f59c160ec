"""Lambda's REST operations over the catalog and the platform, in the shapes botocore expects.

Each operation takes an ``ApiRequest`` (already authenticated, body read) and returns an ``ApiResponse``; errors
are ``HearthError``s, which the router renders with ``x-amzn-ErrorType`` and Lambda's JSON error body.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.api import shapes
from hearth.asgi import Headers
from hearth.gateway.tracing import trace_of
from hearth.model import (
    ASYNC_PAYLOAD_LIMIT,
    ASYNC_PAYLOAD_PURPOSE,
    LATEST,
    SYNC_PAYLOAD_LIMIT,
    VERSION_QUALIFIER,
    EventInvokeConfig,
    FunctionSpec,
    function_arn,
)
from hearth.pool.instance import InvokeRequest
from hearth.telemetry.console import format_record

if TYPE_CHECKING:
    from hearth.platform import Platform
    from hearth.store.code import CodeStore

log = logging.getLogger("hearth.api")
TAIL_BYTES = 4096
CLIENT_CONTEXT_LIMIT = 3583  # Lambda's limit on X-Amz-Client-Context
DEFAULT_PAGE = 50
MAX_PAGE = 10_000


@dataclass(slots=True)
class ApiRequest:
    """One control-API call: its route parameters, query, lower-case headers and body."""

    request_id: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    caller: str = ""  # the access key id that signed it ("" for a bearer token or without authentication)

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            value = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise errors.InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
        if not isinstance(value, dict):
            raise errors.InvalidRequestContent("The request body must be a JSON object")
        return value


@dataclass(slots=True)
class ApiResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    stream: AsyncGenerator[bytes, None] | None = None  # a body sent chunk by chunk after ``body``, until it ends


def ok(value: Any, status: int = 200) -> ApiResponse:
    return ApiResponse(status, orjson.dumps(value), [(b"content-type", b"application/json")])


def no_content() -> ApiResponse:
    return ApiResponse(204)


def page(items: list[Any], query: Mapping[str, str], key: str) -> dict[str, Any]:
    """One page of ``items`` under ``key``, with ``NextMarker`` (an index) when more remain."""
    try:
        start = int(query.get("Marker", "0") or 0)
        size = int(query.get("MaxItems", str(DEFAULT_PAGE)))
    except ValueError:
        raise errors.InvalidParameterValue("Marker and MaxItems must be whole numbers") from None
    if not 1 <= size <= MAX_PAGE:
        raise errors.InvalidParameterValue(f"MaxItems must be from 1 to {MAX_PAGE}, got {size}")
    chunk = items[start:start + size]
    result: dict[str, Any] = {key: chunk}
    if start + size < len(items):
        result["NextMarker"] = str(start + size)
    return result


class LambdaApi:
    """The operations; built with the platform (which holds the catalog) and the code store."""

    def __init__(self, platform: Platform, code: CodeStore) -> None:
        self.platform = platform
        self.catalog = platform.catalog
        self.code = code

    def _name(self, request: ApiRequest) -> tuple[str, str | None]:
        raw = request.params["name"]
        qualifier = request.query.get("Qualifier") or shapes.qualifier_of(raw)
        return shapes.function_name(raw), qualifier

    async def _store_code(self, body: Mapping[str, Any]) -> dict[str, Any]:
        data = shapes.decode_zip(body.get("Code") if "Code" in body else {"ZipFile": body.get("ZipFile")})
        package, _stored = await asyncio.to_thread(self.code.put, data)
        return {"code_dir": package.path, "code_sha256": package.sha256, "code_size": package.size}

    # -- functions ---------------------------------------------------------------------------------------------

    async def create_function(self, request: ApiRequest) -> ApiResponse:
        body = request.json()
        spec = shapes.new_function(body)
        self._check_secrets(spec)
        if spec.name in self.catalog.functions:
            raise errors.ResourceConflict(f"Function already exist: {spec.name}")
        spec = replace(spec, **await self._store_code(body))
        spec = self.catalog.create_function(spec)
        if body.get("Publish"):
            spec = self.catalog.publish_version(spec.name)
        return ok(self._configuration(spec), 201)

    def _configuration(self, spec: FunctionSpec) -> dict[str, Any]:
        return shapes.configuration(spec, self.catalog.disabled.get(spec.name))

    def _check_secrets(self, spec: FunctionSpec) -> None:
        """A function may name only secrets that are set (Hearth's ``Secrets`` field)."""
        missing = self.platform.vault.missing(spec.secrets)
        if missing:
            raise errors.SecretNotFound(f"function {spec.name} would read the secret {missing[0]}, which is not "
                                        f"set; set it first with `hearth secret set {missing[0]}`")

    async def list_functions(self, request: ApiRequest) -> ApiResponse:
        every = request.query.get("FunctionVersion") == "ALL"
        specs: list[FunctionSpec] = []
        for name in sorted(self.catalog.functions):
            specs.extend(self.catalog.versions_of(name) if every else [self.catalog.record(name).latest])
        return ok(page([self._configuration(spec) for spec in specs], request.query, "Functions"))

    async def get_function(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._name(request)
        spec = self.catalog.spec(name, qualifier)
        record = self.catalog.record(name)
        result: dict[str, Any] = {
            "Configuration": self._configuration(spec),
            "Code": {"RepositoryType": "Hearth", "Location": str(spec.code_dir)},
            "Tags": {},
        }
        if record.reserved is not None:
            result["Concurrency"] = {"ReservedConcurrentExecutions": record.reserved}
        return ok(result)

    async def get_configuration(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._name(request)
        return ok(self._configuration(self.catalog.spec(name, qualifier)))

    async def update_configuration(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        body = request.json()
        spec = shapes.update_configuration(self.catalog.record(name).latest, body)
        self._check_secrets(spec)
        spec, _changed = self.catalog.update_function(spec, body.get("RevisionId"))
        return ok(self._configuration(spec))

    async def update_code(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        body = request.json()
        latest = self.catalog.record(name).latest
        self.catalog._check_revision(latest.revision_id, body.get("RevisionId"), "GetFunction")
        spec = replace(latest, **await self._store_code(body))
        if body.get("DryRun"):
            return ok(self._configuration(spec))
        spec, _changed = self.catalog.update_function(spec, body.get("RevisionId"))
        if body.get("Publish"):
            spec = self.catalog.publish_version(name)
        return ok(self._configuration(spec))

    async def delete_function(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._name(request)
        # A qualifier names one published version (the catalog refuses $LATEST); an alias is refused as Lambda
        # does, rather than answered "not found" as if it did not exist.
        if qualifier is not None and qualifier in self.catalog.aliases.get(name, {}):
            raise errors.InvalidParameterValue(f"{qualifier} is an alias of {name}, not a version: delete it with "
                                               "DeleteAlias")
        self.catalog.delete_function(name, qualifier)
        return no_content()

    # -- versions ----------------------------------------------------------------------------------------------

    async def publish_version(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        body = request.json()
        sha = body.get("CodeSha256")
        hex_sha = None
        if sha:
            try:
                hex_sha = base64.b64decode(sha, validate=True).hex()
            except ValueError:
                raise errors.InvalidParameterValue("CodeSha256 must be the base64 digest GetFunction shows") from None
        snapshot = await asyncio.to_thread(self.catalog.snapshot, name)
        spec = self.catalog.publish_version(name, body.get("Description", ""), body.get("RevisionId"), hex_sha,
                                            snapshot)
        return ok(self._configuration(spec), 201)

    async def list_versions(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        versions = [self._configuration(spec) for spec in self.catalog.versions_of(name)]
        return ok(page(versions, request.query, "Versions"))

    # -- aliases -----------------------------------------------------------------------------------------------

    async def create_alias(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        body = request.json()
        alias_name = body.get("Name")
        if not isinstance(alias_name, str):
            raise errors.InvalidParameterValue("Name is required: the alias name")
        alias = self.catalog.put_alias(shapes.alias_from(name, alias_name, body), create=True)
        return ok(shapes.alias_shape(alias), 201)

    async def list_aliases(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        self.catalog.record(name)
        version = request.query.get("FunctionVersion")
        aliases = [shapes.alias_shape(alias) for alias in sorted(self.catalog.aliases[name].values(),
                                                                   key=lambda a: a.name)
                   if version is None or alias.version == version]
        return ok(page(aliases, request.query, "Aliases"))

    async def get_alias(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        return ok(shapes.alias_shape(self.catalog.alias(name, request.params["alias"])))

    async def update_alias(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        body = request.json()
        current = self.catalog.alias(name, request.params["alias"])
        alias = shapes.alias_from(name, current.name, body, base=current)
        alias = self.catalog.put_alias(alias, create=False, revision_id=body.get("RevisionId"))
        return ok(shapes.alias_shape(alias))

    async def delete_alias(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        self.catalog.delete_alias(name, request.params["alias"])
        return no_content()

    # -- concurrency -------------------------------------------------------------------------------------------

    async def put_concurrency(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        count = request.json().get("ReservedConcurrentExecutions")
        if isinstance(count, bool) or not isinstance(count, int):
            raise errors.InvalidParameterValue("ReservedConcurrentExecutions must be a whole number")
        self.catalog.set_reserved(name, count)
        return ok({"ReservedConcurrentExecutions": count})

    async def get_concurrency(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        reserved = self.catalog.record(name).reserved
        return ok({} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    async def delete_concurrency(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        self.catalog.set_reserved(name, None)
        return no_content()

    def _provisioned_qualifier(self, request: ApiRequest) -> tuple[str, str]:
        name, qualifier = self._name(request)
        if not qualifier:
            raise errors.InvalidParameterValue("Qualifier is required: a version number or an alias name")
        return name, qualifier

    async def put_provisioned(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._provisioned_qualifier(request)
        count = request.json().get("ProvisionedConcurrentExecutions")
        if isinstance(count, bool) or not isinstance(count, int):
            raise errors.InvalidParameterValue("ProvisionedConcurrentExecutions must be a whole number")
        self.catalog.set_provisioned(name, qualifier, count)
        return ok(self._provisioned_shape(name, qualifier), 202)

    async def get_provisioned(self, request: ApiRequest) -> ApiResponse:
        if request.query.get("List") == "ALL":  # ListProvisionedConcurrencyConfigs shares the path
            name, _ = self._name(request)
            self.catalog.record(name)
            configs = [dict(self._provisioned_shape(name, qualifier), FunctionArn=function_arn(name, qualifier))
                       for function, qualifier in sorted(self.catalog.provisioned) if function == name]
            return ok(page(configs, request.query, "ProvisionedConcurrencyConfigs"))
        name, qualifier = self._provisioned_qualifier(request)
        return ok(self._provisioned_shape(name, qualifier))

    async def delete_provisioned(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._provisioned_qualifier(request)
        self.catalog.delete_provisioned(name, qualifier)
        return no_content()

    def _provisioned_shape(self, name: str, qualifier: str) -> dict[str, Any]:
        requested = self.catalog.provisioned.get((name, qualifier))
        if requested is None:
            self.catalog.spec(name, qualifier)  # an unknown version or alias is ResourceNotFound
            raise errors.ProvisionedConfigNotFound(f"No Provisioned Concurrency Config found for this function: "
                                                   f"{name}:{qualifier}")
        version = self.catalog.spec(name, qualifier).version
        pool = self.platform.pools.get((name, version))
        ready = min(pool.provisioned_ready, requested) if pool is not None else 0
        shape: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": requested,
            "AvailableProvisionedConcurrentExecutions": ready,
            "AllocatedProvisionedConcurrentExecutions": ready,
            "Status": "READY" if ready >= requested else "IN_PROGRESS",
            "LastModified": self.catalog.record(name).latest.last_modified,
        }
        if pool is not None and pool.provision_error and ready < requested:
            shape["StatusReason"] = pool.provision_error
        return shape

    # -- asynchronous invocation configs -----------------------------------------------------------------------

    async def put_event_invoke_config(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._name(request)
        config = shapes.event_invoke_config_from(EventInvokeConfig(name, qualifier or LATEST), request.json())
        return ok(shapes.event_invoke_config_shape(self.catalog.put_event_invoke_config(config, replace=True)))

    async def update_event_invoke_config(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._name(request)
        body = request.json()
        config = shapes.event_invoke_config_from(self.catalog.stored_event_invoke_config(name, qualifier), body)
        return ok(shapes.event_invoke_config_shape(self.catalog.put_event_invoke_config(config, replace=False)))

    async def get_event_invoke_config(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._name(request)
        return ok(shapes.event_invoke_config_shape(self.catalog.stored_event_invoke_config(name, qualifier)))

    async def delete_event_invoke_config(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._name(request)
        self.catalog.delete_event_invoke_config(name, qualifier)
        return no_content()

    async def list_event_invoke_configs(self, request: ApiRequest) -> ApiResponse:
        name, _ = self._name(request)
        self.catalog.record(name)

        def order(config: EventInvokeConfig) -> tuple[int, int, str]:  # $LATEST, versions, then aliases
            if config.qualifier == LATEST:
                return 0, 0, ""
            if VERSION_QUALIFIER.match(config.qualifier):
                return 1, int(config.qualifier), ""
            return 2, 0, config.qualifier

        configs = sorted((config for (function, _), config in self.catalog.event_invoke_configs.items()
                          if function == name), key=order)
        return ok(page([shapes.event_invoke_config_shape(config) for config in configs], request.query,
                       "FunctionEventInvokeConfigs"))

    # -- invoke ------------------------------------------------------------------------------------------------

    async def invoke(self, request: ApiRequest) -> ApiResponse:
        name, qualifier = self._name(request)
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "DryRun", "Event"):
            raise errors.InvalidParameterValue(f"InvocationType {invocation_type!r} is not valid; use "
                                               "RequestResponse, Event or DryRun")
        # (the payload's size was checked as it was read: ``invoke_body_limit``)
        try:
            event = orjson.loads(request.body) if request.body.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise errors.InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
        spec = self.catalog.spec(name, qualifier)  # 404 before anything runs
        id_header = (b"x-amzn-requestid", request.request_id.encode())
        if invocation_type == "DryRun":
            return ApiResponse(204, b"", [id_header])
        caller = [(name.encode(), request.headers[name].encode("latin-1"))
                  for name in ("traceparent", "x-amzn-trace-id") if name in request.headers]
        call = InvokeRequest(request.request_id, event, trigger="invoke", trace_id=trace_of(caller).xray(),
                             client_context=_client_context(request.headers.get("x-amz-client-context")))
        if invocation_type == "Event":  # stored durably, then run by the platform's dispatcher
            await self.platform.async_invoker.accept(name, qualifier, request.body.strip() or b"{}",
                                                     request.request_id, call.client_context, call.trace_id)
            return ApiResponse(202, b"", [id_header, (b"x-amz-executed-version", spec.version.encode())])
        invocation = await self.platform.invoke(name, call, qualifier, request.headers)
        out = [id_header, (b"x-amz-executed-version", invocation.record.version.encode())]
        if request.headers.get("x-amz-log-type") == "Tail":
            text = "\n".join(format_record(invocation.record)) + "\n"
            out.append((b"x-amz-log-result", base64.b64encode(text.encode()[-TAIL_BYTES:])))
        out.append((b"content-type", b"application/json"))
        if invocation.error is not None:
            out.append((b"x-amz-function-error", invocation.error.function_error.encode()))
            return ApiResponse(200, orjson.dumps(invocation.error.to_payload()), out)
        assert invocation.payload is not None
        return ApiResponse(200, invocation.payload, out)


def _client_context(value: str | None) -> str | None:
    """Invoke's ``X-Amz-Client-Context`` (base64 of a JSON object) as the JSON text runtimes are handed."""
    if value is None:
        return None
    try:
        text = base64.b64decode(value, validate=True).decode()
        parsed = orjson.loads(text)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict) or len(value) > CLIENT_CONTEXT_LIMIT:
        raise errors.InvalidRequestContent(f"Client context must be a valid Base64-encoded JSON object of at most "
                                           f"{CLIENT_CONTEXT_LIMIT} characters")
    return text


def invoke_body_limit(headers: Headers) -> tuple[int, str]:
    """Invoke's payload limit and what it is for, by its ``X-Amz-Invocation-Type``: 1 MB for ``Event``, else
    6 MB; the control API applies it as it reads the body (from ``Content-Length``, before reading it)."""
    for name, value in headers:
        if name == b"x-amz-invocation-type":
            if value == b"Event":
                return ASYNC_PAYLOAD_LIMIT, ASYNC_PAYLOAD_PURPOSE
            break
    return SYNC_PAYLOAD_LIMIT, ""
