"""``GET /hearth/openapi.json``: an OpenAPI 3.0 description of the control API, made from its route table.

Every route whose pattern is a plain path with named segments is described, so a route added to the table is
described without another edit: its path template (``(?P<name>[^/]+)`` becomes ``{name}``), its path parameters,
the query parameters and request body it reads (``QUERY``, ``BODIES``; an operation not listed takes any JSON
object), whether it needs a credential, and its body limit. Responses are described as Lambda's: JSON, with
errors named in ``X-Amzn-ErrorType`` and the statuses of ``errors.py``. The SQS JSON protocol
(``POST /`` with ``X-Amz-Target``) is left out: SQS publishes its own description.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>\[\^/\]\+\)")
_PLAIN = re.compile(r"^/[A-Za-z0-9_./{}-]*$")

_STRING: dict[str, Any] = {"type": "string"}
_NUMBER: dict[str, Any] = {"type": "string", "pattern": "^[0-9]+$"}

# Query parameters each operation reads (by the operation's name).
QUERY: dict[str, dict[str, dict[str, Any]]] = {
    "list_functions": {"Marker": _STRING, "MaxItems": _NUMBER},
    "list_versions": {"Marker": _STRING, "MaxItems": _NUMBER},
    "list_aliases": {"FunctionVersion": _STRING, "Marker": _STRING, "MaxItems": _NUMBER},
    "get_function": {"Qualifier": _STRING},
    "get_configuration": {"Qualifier": _STRING},
    "invoke": {"Qualifier": _STRING},
    "tune": {"Qualifier": _STRING},
    "get_event_invoke_config": {"Qualifier": _STRING},
    "put_event_invoke_config": {"Qualifier": _STRING},
    "update_event_invoke_config": {"Qualifier": _STRING},
    "delete_event_invoke_config": {"Qualifier": _STRING},
    "get_provisioned": {"Qualifier": _STRING, "List": _STRING},
    "put_provisioned": {"Qualifier": _STRING},
    "delete_provisioned": {"Qualifier": _STRING},
    "invocations": {"function": _STRING, "request_id": _STRING, "limit": _NUMBER},
    "logs": {"function": _STRING, "request_id": _STRING, "since": _STRING, "until": _STRING,
             "status": _STRING, "filter": _STRING, "limit": _NUMBER,
             "format": {"type": "string", "enum": ["text", "json", "lambda-json"]},
             "follow": {"type": "string", "enum": ["0", "1"]}},
    "stats": {"function": _STRING, "since": _STRING, "until": _STRING},
    "cost": {"function": _STRING, "since": _STRING, "until": _STRING, "by": _STRING},
    "idle": {"days": _NUMBER, "function": _STRING},
    "audit": {"limit": _NUMBER, "function": _STRING},
    "list": {"FunctionName": _STRING, "EventSourceArn": _STRING},
}

_CODE = {"type": "object", "properties": {"ZipFile": {"type": "string", "format": "byte"}}}
_ALIAS_ROUTING = {"type": "object", "properties": {"AdditionalVersionWeights": {
    "type": "object", "additionalProperties": {"type": "number"}}}}
_DESTINATIONS = {"type": "object", "properties": {
    "OnSuccess": {"type": "object", "properties": {"Destination": _STRING}},
    "OnFailure": {"type": "object", "properties": {"Destination": _STRING}}}}
_CONFIGURATION = {
    "Runtime": _STRING, "Handler": _STRING, "Role": _STRING, "Description": _STRING,
    "MemorySize": {"type": "integer"}, "Timeout": {"type": "integer"},
    "Environment": {"type": "object", "properties": {"Variables": {
        "type": "object", "additionalProperties": _STRING}}},
}


def _object(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


# Request bodies each operation reads (JSON unless said otherwise).
BODIES: dict[str, dict[str, Any]] = {
    "create_function": _object({"FunctionName": _STRING, "Code": _CODE, "Publish": {"type": "boolean"},
                                **_CONFIGURATION}, ["FunctionName", "Code"]),
    "update_configuration": _object(_CONFIGURATION),
    "update_code": _object({"ZipFile": {"type": "string", "format": "byte"}, "Publish": {"type": "boolean"}}),
    "publish_version": _object({"Description": _STRING, "CodeSha256": _STRING, "RevisionId": _STRING}),
    "create_alias": _object({"Name": _STRING, "FunctionVersion": _STRING, "Description": _STRING,
                             "RoutingConfig": _ALIAS_ROUTING}, ["Name", "FunctionVersion"]),
    "update_alias": _object({"FunctionVersion": _STRING, "Description": _STRING, "RoutingConfig": _ALIAS_ROUTING,
                             "RevisionId": _STRING}),
    "put_concurrency": _object({"ReservedConcurrentExecutions": {"type": "integer"}},
                               ["ReservedConcurrentExecutions"]),
    "put_provisioned": _object({"ProvisionedConcurrentExecutions": {"type": "integer"}},
                               ["ProvisionedConcurrentExecutions"]),
    "put_event_invoke_config": _object({"MaximumRetryAttempts": {"type": "integer"},
                                        "MaximumEventAgeInSeconds": {"type": "integer"},
                                        "DestinationConfig": _DESTINATIONS}),
    "update_event_invoke_config": _object({"MaximumRetryAttempts": {"type": "integer"},
                                           "MaximumEventAgeInSeconds": {"type": "integer"},
                                           "DestinationConfig": _DESTINATIONS}),
    "invoke": {},  # any JSON value: the event
    "tune": _object({"MemorySizes": {"type": "array", "items": {"type": "integer"}},
                     "Invocations": {"type": "integer"}, "Payload": {}}),
    "create": _object({"FunctionName": _STRING, "EventSourceArn": _STRING, "BatchSize": {"type": "integer"},
                       "Enabled": {"type": "boolean"}}),
    "update": _object({"FunctionName": _STRING, "BatchSize": {"type": "integer"}, "Enabled": {"type": "boolean"}}),
}
_BINARY = {"deploy"}  # the manifest and the code zip, one after the other (see ``api/deploy.py``)

_ERROR = {"description": "An error as Lambda sends it: its name in `X-Amzn-ErrorType` (see docs/errors.md), "
                         "`Type` (User or Service) and `message` in the body.",
          "content": {"application/json": {"schema": _object({"Type": _STRING, "message": _STRING})}}}


class RouteInfo(Protocol):
    """What the description needs of a route (``api.app._Route``)."""

    method: str
    pattern: re.Pattern[str]
    operation: Callable[..., Any]
    max_body: int
    public: bool


def template(pattern: str) -> str | None:
    """The OpenAPI path template of a route's pattern, or None when it is not a plain path with named segments."""
    path = pattern.removeprefix("^").removesuffix("$").removesuffix("/?").replace("/?", "")
    path = _GROUP.sub(lambda found: "{" + found.group(1) + "}", path)
    return path if path != "/" and _PLAIN.match(path) else None


def describe(routes: Sequence[RouteInfo], version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for route in routes:
        path = template(route.pattern.pattern)
        if path is None:
            continue
        name = getattr(route.operation, "__name__", "operation")
        operation_id = name if name not in taken else f"{name}_{route.method.lower()}_{len(taken)}"
        taken.add(operation_id)
        parameters: list[dict[str, Any]] = [
            {"name": group, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for group in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", path)]
        parameters += [{"name": key, "in": "query", "required": False, "schema": schema}
                       for key, schema in QUERY.get(name, {}).items()]
        operation: dict[str, Any] = {
            "operationId": operation_id,
            "summary": (getattr(route.operation, "__doc__", None) or name).strip().splitlines()[0],
            "parameters": parameters,
            "responses": {"2XX": {"description": "Success (JSON, or what the operation returns)."},
                          "4XX": _ERROR, "5XX": _ERROR},
            "x-hearth-max-body-bytes": route.max_body,
        }
        if route.public:
            operation["security"] = []
        if route.method in ("POST", "PUT"):
            if name in _BINARY:
                content: dict[str, Any] = {"application/octet-stream": {"schema": {"type": "string",
                                                                                   "format": "binary"}}}
            else:
                content = {"application/json": {"schema": BODIES.get(name, {"type": "object"})}}
            operation["requestBody"] = {"required": False, "content": content}
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "Hearth control API", "version": version,
                 "description": "Lambda's REST API (the subset Hearth serves) and Hearth's own /hearth routes."},
        "paths": paths,
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "The admin token from <data-dir>/credentials.json (`hearth serve`)."},
            "sigv4": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "AWS Signature Version 4, as boto3 and the AWS CLI sign (service lambda)."}}},
        "security": [{"bearer": []}, {"sigv4": []}],
    }
