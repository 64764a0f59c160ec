"""Lambda's event source mapping operations for queues: Create, Get, Update, Delete and List
(``/2015-03-31/event-source-mappings/``), as boto3's ``create_event_source_mapping`` and the AWS CLI call them.

A mapping's ``EventSourceArn`` is a queue's ARN (``arn:aws:sqs:us-east-1:000000000000:NAME``); the queue must exist.
The shape follows Lambda's: ``UUID``, ``EventSourceArn``, ``FunctionArn`` (with the qualifier the request named),
``BatchSize``, ``MaximumBatchingWindowInSeconds``, ``FunctionResponseTypes``, ``ScalingConfig``, ``State``
(``Enabled``/``Disabled``: a mapping takes effect at once, so the transitional states never show) and
``LastModified`` (epoch seconds).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hearth import errors
from hearth.api import shapes
from hearth.api.lambda_api import ApiRequest, ApiResponse, ok, page
from hearth.model import EventSourceMappingSpec, function_arn, parse_destination, queue_arn

if TYPE_CHECKING:
    from hearth.platform import Platform

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
_UPDATABLE = {"FunctionName", "Enabled", "BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes",
              "ScalingConfig"}


def mapping_shape(mapping: EventSourceMappingSpec, state: str | None = None) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "UUID": mapping.uuid,
        "EventSourceArn": queue_arn(mapping.queue),
        "FunctionArn": function_arn(mapping.function, mapping.qualifier),
        "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": mapping.maximum_batching_window_s,
        "FunctionResponseTypes": [REPORT_BATCH_ITEM_FAILURES] if mapping.report_batch_item_failures else [],
        "State": state or ("Enabled" if mapping.enabled else "Disabled"),
        "StateTransitionReason": "USER_INITIATED",
        "LastModified": shapes.epoch_seconds(mapping.last_modified),
    }
    if mapping.maximum_concurrency is not None:
        shape["ScalingConfig"] = {"MaximumConcurrency": mapping.maximum_concurrency}
    return shape


class EventSourceMappingApi:
    """The operations; see the module docstring."""

    def __init__(self, platform: Platform) -> None:
        self.catalog = platform.catalog

    async def create(self, request: ApiRequest) -> ApiResponse:
        body = request.json()
        arn = body.get("EventSourceArn")
        if not isinstance(arn, str):
            raise errors.InvalidParameterValue("EventSourceArn is required: the ARN of a queue, e.g. "
                                               f"{queue_arn('jobs')}")
        try:
            source = parse_destination(arn)
        except ValueError as exc:
            raise errors.InvalidParameterValue(f"EventSourceArn {arn!r} is not valid: {exc}") from None
        if source.kind != "queue":
            raise errors.InvalidParameterValue(f"EventSourceArn {arn!r} is not a queue; Hearth's event sources are "
                                               "its queues")
        if source.name not in self.catalog.queues:
            raise errors.InvalidParameterValue(f"Queue {source.name!r} does not exist; create it first (SQS "
                                               "CreateQueue, `[queues.NAME]` in hearth.toml)")
        value = body.get("FunctionName")
        name = shapes.function_name(value)
        duplicate = next((m for m in self.catalog.event_source_mappings.values()
                          if m.queue == source.name and m.function == name), None)
        if duplicate is not None:
            raise errors.ResourceConflict(f"An event source mapping with SQS arn (\" {arn} \") and function "
                                          f"(\" {name} \") already exists. Please update or delete the existing "
                                          f"mapping with UUID {duplicate.uuid}")
        mapping = EventSourceMappingSpec(uuid=str(uuid.uuid4()), queue=source.name, function=name,
                                         qualifier=shapes.qualifier_of(str(value)))
        mapping = _updated(mapping, body, creating=True)
        return ok(mapping_shape(self.catalog.put_event_source_mapping(mapping), "Creating"), 202)

    async def get(self, request: ApiRequest) -> ApiResponse:
        return ok(mapping_shape(self.catalog.event_source_mapping(request.params["uuid"])))

    async def update(self, request: ApiRequest) -> ApiResponse:
        mapping = self.catalog.event_source_mapping(request.params["uuid"])
        body = request.json()
        unknown = sorted(set(body) - _UPDATABLE)
        if unknown:
            raise errors.InvalidParameterValue(f"{unknown[0]} cannot be updated on a queue's event source mapping")
        updated = self.catalog.put_event_source_mapping(_updated(mapping, body, creating=False))
        return ok(mapping_shape(updated, "Updating"), 202)

    async def delete(self, request: ApiRequest) -> ApiResponse:
        return ok(mapping_shape(self.catalog.delete_event_source_mapping(request.params["uuid"]), "Deleting"), 202)

    async def list(self, request: ApiRequest) -> ApiResponse:
        function = request.query.get("FunctionName")
        name = shapes.function_name(function) if function else None
        arn = request.query.get("EventSourceArn")
        found = [mapping_shape(m) for m in sorted(self.catalog.event_source_mappings.values(),
                                                  key=lambda m: (m.function, m.queue, m.uuid))
                 if (name is None or m.function == name) and (arn is None or queue_arn(m.queue) == arn)]
        return ok(page(found, request.query, "EventSourceMappings"))


def _updated(mapping: EventSourceMappingSpec, body: Mapping[str, Any], *, creating: bool) -> EventSourceMappingSpec:
    """``mapping`` with the fields a Create or Update request gives (the catalog checks their ranges)."""
    changes: dict[str, Any] = {}
    if "FunctionName" in body and not creating:
        changes["function"] = shapes.function_name(body["FunctionName"])
        changes["qualifier"] = shapes.qualifier_of(str(body["FunctionName"]))
    for key, field in (("BatchSize", "batch_size"), ("MaximumBatchingWindowInSeconds", "maximum_batching_window_s")):
        if key in body:
            if isinstance(body[key], bool) or not isinstance(body[key], int):
                raise errors.InvalidParameterValue(f"{key} must be a whole number")
            changes[field] = body[key]
    if "Enabled" in body:
        if not isinstance(body["Enabled"], bool):
            raise errors.InvalidParameterValue("Enabled must be true or false")
        changes["enabled"] = body["Enabled"]
    if "FunctionResponseTypes" in body:
        types = body["FunctionResponseTypes"]
        if not isinstance(types, list) or any(item != REPORT_BATCH_ITEM_FAILURES for item in types):
            raise errors.InvalidParameterValue(f"FunctionResponseTypes may only hold {REPORT_BATCH_ITEM_FAILURES}")
        changes["report_batch_item_failures"] = bool(types)
    if "ScalingConfig" in body:
        scaling = body["ScalingConfig"]
        concurrency = scaling.get("MaximumConcurrency") if isinstance(scaling, dict) else None
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)):
            raise errors.InvalidParameterValue("ScalingConfig.MaximumConcurrency must be a whole number")
        changes["maximum_concurrency"] = concurrency
    return dataclasses.replace(mapping, **changes)
