"""Event source mappings: a queue feeding a function, as Lambda polls SQS for it.

One poller per enabled mapping (``EventSourceMappingSpec``), started and stopped as the catalog changes. A poller
claims up to ``batch_size`` visible messages of its queue (hidden for the queue's visibility timeout; the queue's
redrive policy moves a message received ``max_receive_count`` times to its dead-letter queue instead), waits up to
``maximum_batching_window_s`` for a fuller batch, and invokes the function synchronously with SQS's event
(``Records[]``), with up to ``maximum_concurrency`` batches in flight. Then:

- success: the batch is deleted; with ``report_batch_item_failures``, all but the messages the function lists in
  ``batchItemFailures`` (``itemIdentifier`` = ``messageId``), which stay hidden until their visibility timeout
  ends and are received again (a malformed answer fails the whole batch, as on Lambda);
- a function error (an exception, a timeout, out of memory, a crash) or a throttle: nothing is deleted; the whole
  batch is received again once its visibility timeout ends, and so on until the redrive policy moves its messages
  to the dead-letter queue (or retention drops them).

Messages are delivered at least once: a batch whose invocation ended while Hearth was dying is received again.
A poller with nothing to do long-polls its queue through the queue service (``triggers/queues.py``), which wakes it
on a send or when a message becomes visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.gateway.tracing import trace_of
from hearth.model import ACCOUNT_ID, REGION, EventSourceMappingSpec, queue_arn
from hearth.pool.instance import InvokeRequest
from hearth.store.events import EventStore, Message
from hearth.triggers import queue_messages

if TYPE_CHECKING:
    from hearth.catalog import Catalog
    from hearth.platform import Platform

log = logging.getLogger("hearth.queues")

IDLE_POLL_S = 1.0  # with an empty queue, look again this often (a send wakes the poller at once)
DEFAULT_CONCURRENCY = 5  # batches in flight per mapping when it sets no maximum (Lambda starts at five pollers)


class QueuePollers:
    """The pollers of every enabled event source mapping; see the module docstring."""

    def __init__(self, platform: Platform, store: EventStore, *, clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.store = store
        self.clock = clock
        self._pollers: dict[str, tuple[EventSourceMappingSpec, asyncio.Task[None]]] = {}
        self._started = False

    @property
    def catalog(self) -> Catalog:
        return self.platform.catalog

    def start(self) -> None:
        self._started = True
        self.sync()

    def sync(self) -> None:
        """Start the pollers of new or changed mappings, stop those of deleted or disabled ones (and of disabled
        functions: their messages wait in the queue until the function is enabled again)."""
        if not self._started:
            return
        disabled = self.catalog.disabled
        wanted = {uuid: spec for uuid, spec in self.catalog.event_source_mappings.items()
                  if spec.enabled and spec.function not in disabled}
        for uuid, (spec, task) in list(self._pollers.items()):
            if wanted.get(uuid) != spec:
                task.cancel()
                del self._pollers[uuid]
        for uuid, spec in wanted.items():
            if uuid not in self._pollers:
                task = asyncio.get_running_loop().create_task(self._poll_forever(spec))
                self._pollers[uuid] = (spec, task)

    async def close(self) -> None:
        self._started = False
        tasks = [task for _, task in self._pollers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pollers.clear()

    # -- one mapping -------------------------------------------------------------------------------------------

    async def _poll_forever(self, mapping: EventSourceMappingSpec) -> None:
        slots = asyncio.Semaphore(mapping.maximum_concurrency or DEFAULT_CONCURRENCY)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await slots.acquire()
                try:
                    batch = await self._gather(mapping)
                except errors.ServiceError as error:
                    log.error("mapping %s cannot receive from %s (trying again): %s", mapping.uuid, mapping.queue,
                              error.message)
                    batch = []
                    await asyncio.sleep(IDLE_POLL_S)
                if not batch:
                    slots.release()
                    continue
                task = asyncio.get_running_loop().create_task(self._deliver(mapping, batch))
                running.add(task)

                def finished(done: asyncio.Task[None]) -> None:
                    running.discard(done)
                    slots.release()

                task.add_done_callback(finished)
        finally:
            for task in running:
                task.cancel()

    async def _gather(self, mapping: EventSourceMappingSpec) -> list[Message]:
        """A batch: up to ``batch_size`` messages, waiting up to the batching window for more once one is in.
        With none visible it long-polls the queue (``QueueService.receive``) for up to ``IDLE_POLL_S``."""
        queues = self.platform.queues
        queue = self.catalog.queues.get(mapping.queue)
        if queue is None:  # deleted under the mapping: wait for it to come back (or the mapping to go)
            await queues.wait(mapping.queue, IDLE_POLL_S)
            return []
        visibility = float(queue.visibility_timeout_s)
        batch = await queues.receive(queue, mapping.batch_size, visibility, IDLE_POLL_S)
        if not batch or mapping.maximum_batching_window_s <= 0:
            return batch
        deadline = time.monotonic() + mapping.maximum_batching_window_s
        while len(batch) < mapping.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batch += await queues.receive(queue, mapping.batch_size - len(batch), visibility, remaining)
        # A window longer than the visibility timeout can receive a message twice: keep its latest receive.
        return list({message.id: message for message in batch}.values())

    async def _deliver(self, mapping: EventSourceMappingSpec, batch: list[Message]) -> None:
        event = sqs_event(batch, self.clock())
        request = InvokeRequest(batch[0].id, event, trigger="queue", trace_id=trace_of(()).xray())
        try:
            invocation = await self.platform.invoke(mapping.function, request, mapping.qualifier)
        except errors.HearthError as error:  # throttled, or the function is gone: the batch comes back later
            log.warning("mapping %s: %d messages from %s not delivered (%s); they are received again after their "
                        "visibility timeout", mapping.uuid, len(batch), mapping.queue, error.message)
            return
        if invocation.error is not None:
            log.info("mapping %s: %s failed on a batch of %d; it is received again after its visibility timeout",
                     mapping.uuid, mapping.function, len(batch))
            return
        failed: set[str] = set()
        if mapping.report_batch_item_failures:
            reported = item_failures(invocation.payload, {message.id for message in batch})
            if reported is None:
                log.warning("mapping %s: %s answered batchItemFailures that are not valid; the whole batch is "
                            "received again", mapping.uuid, mapping.function)
                return
            failed = reported
        for message in batch:
            if message.id not in failed:
                await self.store.delete(message)


def sqs_event(batch: list[Message], now: float) -> dict[str, Any]:
    """SQS's event for a batch of messages (``Records[]``)."""
    records = []
    for message in batch:
        meta = queue_messages.decode(message.meta)
        body = message.body.decode("utf-8", "replace")
        attributes = {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(int(message.sent_at * 1000)),
            "SenderId": meta.sender or ACCOUNT_ID,
            "ApproximateFirstReceiveTimestamp": str(int((message.first_received_at or now) * 1000)),
        }
        records.append({
            "messageId": message.id,
            "receiptHandle": queue_messages.receipt_handle(message),
            "body": body,
            "attributes": attributes,
            "messageAttributes": {name: _record_attribute(value) for name, value in meta.attributes.items()},
            "md5OfBody": hashlib.md5(message.body, usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn(message.queue),
            "awsRegion": REGION,
        })
    return {"Records": records}


def _record_attribute(value: Mapping[str, str]) -> dict[str, Any]:
    """A message attribute as SQS's Lambda event spells it (camelCase, list fields present)."""
    record: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
    if "StringValue" in value:
        record["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        record["binaryValue"] = value["BinaryValue"]
    return record


def item_failures(payload: bytes | None, ids: set[str]) -> set[str] | None:
    """The message ids a ``ReportBatchItemFailures`` answer lists; None when the answer is not a valid one (then
    the whole batch failed). An empty or null answer, or an empty list, means every message succeeded."""
    if not payload:
        return set()
    try:
        answer = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if answer is None or answer == {}:
        return set()
    if not isinstance(answer, dict):
        return None
    items = answer.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    failed = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in ids:
            return None  # Lambda fails the whole batch for an empty, null or unknown identifier
        failed.add(identifier)
    return failed
