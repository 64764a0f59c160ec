"""The control API: Lambda's REST shapes (so boto3 and the AWS CLI work) plus Hearth's native endpoints.

Route table, top to bottom:

    POST /2015-03-31/functions/{name}/invocations   Lambda Invoke (RequestResponse)
    GET  /hearth/health                              readiness
    GET  /hearth/instances                           live instances (function, id, pid, state)
    GET  /hearth/invocations?function=&request_id=&limit=   recent invocation records

Errors carry ``x-amzn-ErrorType`` and Lambda's JSON error body, which botocore turns into its exception classes.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

import orjson

from hearth import errors
from hearth.asgi import Receive, Scope, Send, read_body, respond, respond_json
from hearth.ids import new_request_id
from hearth.model import LATEST, InvocationRecord
from hearth.pool.instance import InvokeRequest
from hearth.telemetry.console import format_record

if TYPE_CHECKING:
    from hearth.platform import Platform

log = logging.getLogger("hearth.api")
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
TAIL_BYTES = 4096
Handler = Callable[[Scope, Receive, Send, dict[str, str]], Awaitable[None]]


class ControlApi:
    """The control-plane ASGI application."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$"), self.invoke),
            ("GET", re.compile(r"^/hearth/health$"), self.health),
            ("GET", re.compile(r"^/hearth/instances$"), self.instances),
            ("GET", re.compile(r"^/hearth/invocations$"), self.invocations),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        try:
            for method, pattern, handler in self.routes:
                found = pattern.match(scope["path"])
                if found is not None and method == scope["method"]:
                    params = {key: unquote(value) for key, value in found.groupdict().items()}
                    params["request_id"] = request_id
                    await handler(scope, receive, send, params)
                    return
            raise errors.ResourceNotFound(f"No control API operation at {scope['method']} {scope['path']}")
        except errors.HearthError as error:
            await _error(send, error, request_id)
        except Exception:
            log.exception("control API failed on request %s", request_id)
            await _error(send, errors.ServiceError(f"Hearth failed on request {request_id}; see its log"),
                         request_id)

    async def invoke(self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]) -> None:
        name = _function_name(params["name"])
        query = parse_qs(scope["query_string"].decode("latin-1"))
        qualifier = query.get("Qualifier", [LATEST])[0]
        if qualifier != LATEST:
            raise errors.ResourceNotFound(f"Function not found: {name}:{qualifier}; only {LATEST} exists so far")
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "DryRun"):
            raise errors.InvalidParameterValue(f"InvocationType {invocation_type!r} is not supported yet; "
                                               "use RequestResponse")
        body = await read_body(scope, receive, MAX_SYNC_PAYLOAD)
        try:
            event = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise errors.InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
        self.platform.catalog.record(name)
        if invocation_type == "DryRun":
            await respond(send, 204, [(b"x-amzn-requestid", params["request_id"].encode())], b"")
            return
        request_id = params["request_id"]
        invocation = await self.platform.invoke(name, InvokeRequest(request_id, event, trigger="invoke"))
        out = [(b"x-amzn-requestid", request_id.encode()),
               (b"x-amz-executed-version", invocation.record.version.encode())]
        if headers.get("x-amz-log-type") == "Tail":
            text = "\n".join(format_record(invocation.record)) + "\n"
            tail = text.encode()[-TAIL_BYTES:]
            out.append((b"x-amz-log-result", base64.b64encode(tail)))
        if invocation.error is not None:
            out.append((b"x-amz-function-error", invocation.error.function_error.encode()))
            out.append((b"content-type", b"application/json"))
            await respond(send, 200, out, orjson.dumps(invocation.error.to_payload()))
            return
        assert invocation.payload is not None
        out.append((b"content-type", b"application/json"))
        await respond(send, 200, out, invocation.payload)

    async def health(self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]) -> None:
        limiter = self.platform.limiter
        await respond_json(send, 200, {"status": "ok", "functions": sorted(self.platform.catalog.functions),
                                       "memory_enforcement": limiter.description if limiter else None})

    async def instances(self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]) -> None:
        await respond_json(send, 200, {"instances": self.platform.instances()})

    async def invocations(self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]) -> None:
        query = {key: values[0] for key, values in parse_qs(scope["query_string"].decode("latin-1")).items()}
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            raise errors.InvalidParameterValue("limit must be a whole number") from None
        records = self.platform.records.query(query.get("function"), query.get("request_id"), limit)
        await respond_json(send, 200, {"invocations": [_record_json(record) for record in records]})


def _function_name(raw: str) -> str:
    """Accept a name, a partial ARN or a full ARN, as Lambda does."""
    if raw.startswith("arn:"):
        parts = raw.split(":")
        if len(parts) >= 7:
            return parts[6]
    return raw


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
