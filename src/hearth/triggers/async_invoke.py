"""Asynchronous invocations, as Lambda runs them: accepted into the event store, then run with retries.

``accept`` stores the event (``ASYNC_QUEUE``: the payload as the body; function, qualifier and client context as
meta) and returns once it is durable; the caller answers 202. The dispatcher claims due events in batches (up to
``MAX_IN_FLIGHT`` running) and runs each through the platform, with the function's ordinary pool semantics. Per
event, by the function's ``EventInvokeConfig`` (``Catalog.event_invoke_config``):

- success: the event is deleted; with an ``on_success`` destination, its invocation record is sent there in the
  same transaction;
- a function error (an exception, a timeout, running out of memory, a crash): retried after
  ``retry_delay_s × 2^(n-1)`` (Lambda's one, then two minutes) while attempts remain
  (``maximum_retry_attempts``, 0–2), then given up ("RetriesExhausted");
- throttled, or a failure of Hearth's own: retried without counting an attempt, after a delay that grows with the
  event's age (one second to five minutes, scaled like ``retry_delay_s``), as Lambda keeps throttled events;
- older than ``maximum_event_age_s`` before it can run ("EventAgeExceeded"): given up;
- its function deleted: dropped (and logged).

An event given up goes to the ``on_failure`` destination, if any, as an invocation record (Lambda's shape:
``requestContext{requestId, functionArn, condition, approximateInvokeCount}``, ``requestPayload``,
``responseContext``, ``responsePayload``). A function destination is an asynchronous invocation of it, stored in
the same transaction as the deletion; a queue destination is a message in that queue. An event given up also
goes, as it came, to the function's dead-letter queue (``DeadLetterConfig``), with Lambda's ``RequestID``,
``ErrorCode`` and ``ErrorMessage`` attributes.

A schedule's Vercel cron is an event too (meta ``path``): it GETs the path on the gateway (``_get``), as its
project's host and with ``CRON_SECRET``; any answer ends it (Vercel does not retry a cron), no answer retries it.

Every attempt of one event has the event's id as its request id. Delivery is at-least-once (see
``store/events.py``): an event whose attempt was under way when the platform died runs again after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.gateway.tracing import trace_of
from hearth.ids import new_request_id
from hearth.model import ACCOUNT_ID, LATEST, EventInvokeConfig, function_arn
from hearth.pool.instance import InvokeRequest
from hearth.runtimes.http.client import BackendError, Connection
from hearth.store.events import ASYNC_QUEUE, HEARTBEAT_S, EventStore, Message, NewMessage
from hearth.triggers import queue_messages

if TYPE_CHECKING:
    from hearth.catalog import Catalog
    from hearth.platform import Platform
    from hearth.pool.pool import Invocation

log = logging.getLogger("hearth.async")

MAX_IN_FLIGHT = 256  # events running at once, across functions (each also within its function's concurrency)
LEASE_MARGIN_S = 60.0  # a claim outlives the longest invocation by this much
MAX_LEASE_S = 900.0 + LEASE_MARGIN_S
IDLE_POLL_S = 1.0  # with nothing due, look again this often (new events wake the dispatcher at once)
DEFAULT_RETRY_DELAY_S = 60.0  # Lambda: one minute before the first retry, two before the second
_FUNCTION_ARN_PREFIX = function_arn("")  # "arn:aws:lambda:…:function:"
CRON_AGENT = "vercel-cron/1.0"  # what Vercel's cron calls send, so apps that check it see the same
CRON_TIMEOUT_S = 900.0


class AsyncInvoker:
    """Accepts asynchronous invocations and runs them; see the module docstring."""

    def __init__(self, platform: Platform, store: EventStore, *, retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
                 clock: Any = time.time) -> None:
        self.platform = platform
        self.store = store
        self.retry_delay_s = retry_delay_s
        self.clock = clock
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._claimed: dict[asyncio.Task[None], Message] = {}
        self._dispatcher: asyncio.Task[None] | None = None

    async def accept(self, function: str, qualifier: str | None, payload: bytes, request_id: str,
                     client_context: str | None = None, trace_id: str | None = None) -> None:
        """Store an event for ``function[:qualifier]`` (already known to exist); returns once it is durable.
        A disabled function's caller is told at once (``FunctionDisabled``) rather than left to wait."""
        if function in self.platform.catalog.disabled:
            raise self.platform.catalog.disabled_error(function)
        meta = {"function": function, "qualifier": qualifier}
        if client_context is not None:
            meta["client_context"] = client_context
        if trace_id is not None:
            meta["trace_id"] = trace_id
        await self.store.send([NewMessage(request_id, ASYNC_QUEUE, payload, orjson.dumps(meta))])
        self._wake.set()

    def start(self) -> None:
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch_forever())

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop claiming, give running events ``grace_s`` to finish, and hand the others back to the store."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        if self._running:
            await asyncio.wait(self._running, timeout=grace_s)
        for task, message in list(self._claimed.items()):
            task.cancel()
            try:
                await self.store.release(message, 0.0, counted=False)
            except errors.ServiceError:
                pass  # recover() of the next start releases it

    # -- dispatching ---------------------------------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        await self._recover()
        last_recovery = self.clock()
        while True:
            if self.clock() - last_recovery > HEARTBEAT_S:
                await self._recover()
                last_recovery = self.clock()
            room = MAX_IN_FLIGHT - len(self._running)
            claimed: list[Message] = []
            if room > 0:
                self._wake.clear()
                try:
                    claimed = await self.store.claim(ASYNC_QUEUE, room, MAX_LEASE_S)
                except errors.ServiceError as error:
                    log.error("cannot claim asynchronous events (retrying): %s", error.message)
            for message in claimed:
                task = asyncio.get_running_loop().create_task(self._process(message))
                self._running.add(task)
                self._claimed[task] = message
                task.add_done_callback(self._done)
            if claimed and len(claimed) == room:
                continue  # more may be due
            await self._idle(room > 0)

    async def _idle(self, had_room: bool) -> None:
        """Wait for new events, a running one to end, or the next delayed one to become due."""
        timeout = IDLE_POLL_S
        if had_room:
            try:
                due = await self.store.next_visible(ASYNC_QUEUE)
            except errors.ServiceError:
                due = None
            if due is not None:
                timeout = min(timeout, max(0.0, due - self.clock()))
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _recover(self) -> None:
        try:
            released = await self.store.recover()
        except errors.ServiceError as error:
            log.error("cannot recover asynchronous events of stopped processes: %s", error.message)
            return
        if released:
            log.info("%d asynchronous events of a stopped process are due again", released)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._claimed.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("asynchronous event failed in Hearth", exc_info=task.exception())
        self._wake.set()  # room for another

    # -- one event ---------------------------------------------------------------------------------------------

    async def _process(self, message: Message) -> None:
        meta = orjson.loads(message.meta)
        if meta.get("path"):
            await self._get(message, meta)
            return
        function, qualifier = meta["function"], meta["qualifier"]
        config = self.platform.catalog.event_invoke_config(function, qualifier)  # Lambda's defaults if none
        age = self.clock() - message.sent_at
        if age > config.maximum_event_age_s:
            await self._give_up(message, meta, config, "EventAgeExceeded", None)
            return
        request = InvokeRequest(message.id, orjson.Fragment(message.body), trigger=meta.get("trigger", "async"),
                                client_context=meta.get("client_context"),
                                trace_id=meta.get("trace_id") or trace_of(()).xray())  # a schedule's starts one
        try:
            invocation = await self.platform.invoke(function, request, qualifier)
        except errors.ResourceNotFound:  # deleted since the event was accepted
            log.warning("asynchronous event %s dropped: function %s%s no longer exists", message.id, function,
                        f":{qualifier}" if qualifier else "")
            await self.store.delete(message)
            return
        except errors.HearthError as error:  # throttled, or Hearth could not run it: not the function's attempt
            await self._later(message, meta, config, self._backoff(age), counted=False, reason=error.message)
            return
        if invocation.error is None:
            then = self._destination(config.on_success, message, meta, "Success", invocation)
            await self.store.delete(message, then)
            self._notify(then)
            return
        if message.receive_count <= config.maximum_retry_attempts:
            delay = self.retry_delay_s * 2 ** (message.receive_count - 1)
            await self._later(message, meta, config, delay, counted=True, reason=invocation.error.message)
            return
        await self._give_up(message, meta, config, "RetriesExhausted", invocation)

    async def _get(self, message: Message, meta: Mapping[str, Any]) -> None:
        """A Vercel cron's call: GET its path on the gateway, as its project's host; answered is done (Vercel
        does not retry a cron), unreachable is tried again."""
        base = self.platform.gateway_url
        if base is None:  # not listening yet
            await self.store.release(message, 1.0, counted=False)
            return
        path, site = meta["path"], meta.get("site", "")
        host, port = base.removeprefix("http://").rsplit(":", 1)
        headers = {"host": cron_host(self.platform.catalog, site) or f"{host}:{port}", "user-agent": CRON_AGENT,
                   "x-amzn-requestid": message.id, "connection": "close"}
        secret = cron_secret(self.platform.catalog, site)
        if secret:
            headers["authorization"] = f"Bearer {secret}"
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            async with asyncio.timeout(CRON_TIMEOUT_S):
                _, connection = await asyncio.get_running_loop().create_connection(
                    Connection, host.strip("[]"), int(port))
                try:
                    connection.begin()
                    connection.write(request.encode("latin-1"))
                    status, _ = await connection.response_head()
                    while (await connection.read())[1]:  # the body, to its end
                        pass
                finally:
                    connection.close()
        except (OSError, TimeoutError, BackendError) as error:
            age = self.clock() - message.sent_at
            log.warning("cron GET %s failed (%s); trying again", path, error or "timed out")
            await self.store.release(message, self._backoff(age), counted=False)
            return
        (log.info if 200 <= status < 400 else log.warning)("cron GET %s answered %d", path, status)
        await self.store.delete(message)

    async def _later(self, message: Message, meta: Mapping[str, Any], config: EventInvokeConfig, delay_s: float,
                     *, counted: bool, reason: str) -> None:
        """Try the event again after ``delay_s``, unless it would be too old by then."""
        if self.clock() + delay_s - message.sent_at > config.maximum_event_age_s:
            await self._give_up(message, meta, config, "EventAgeExceeded", None)
            return
        log.info("asynchronous event %s of %s: trying again in %.1f s (%s)", message.id, meta["function"],
                 delay_s, reason)
        await self.store.release(message, delay_s, counted=counted)

    def _backoff(self, age_s: float) -> float:
        """The wait before a throttled event is tried again: a tenth of its age, from 1 s to 5 min (scaled)."""
        scale = self.retry_delay_s / DEFAULT_RETRY_DELAY_S
        return min(max(1.0, age_s / 10), 300.0) * scale

    async def _give_up(self, message: Message, meta: Mapping[str, Any], config: EventInvokeConfig, condition: str,
                       invocation: Invocation | None) -> None:
        log.warning("asynchronous event %s of %s given up (%s after %d attempts)", message.id, meta["function"],
                    condition, message.receive_count)
        then = self._destination(config.on_failure, message, meta, condition, invocation)
        then.extend(self._dead_letter(message, meta, invocation))
        await self.store.delete(message, then)
        self._notify(then)

    def _dead_letter(self, message: Message, meta: Mapping[str, Any],
                     invocation: Invocation | None) -> list[NewMessage]:
        """The event itself, for the function's dead-letter queue (Lambda's ``DeadLetterConfig``), with Lambda's
        attributes ``RequestID``, ``ErrorCode`` and ``ErrorMessage``."""
        try:
            spec = self.platform.catalog.spec(meta["function"], meta["qualifier"])
        except errors.ResourceNotFound:
            return []
        if spec.dead_letter_arn is None:
            return []
        error = invocation.error if invocation is not None else None
        attributes = {"RequestID": message.id, "ErrorCode": "200" if error is not None else "EventAgeExceeded",
                      "ErrorMessage": error.message if error is not None else "the event was too old to run"}
        return self._to_queue(spec.dead_letter_arn, message.id, message.body, attributes)

    def _destination(self, arn: str | None, message: Message, meta: Mapping[str, Any], condition: str,
                     invocation: Invocation | None) -> list[NewMessage]:
        """The message that takes the invocation record to ``arn``: none when there is no destination."""
        if arn is None:
            return []
        record = orjson.dumps(invocation_record(message, meta, condition, invocation, self.clock()))
        if not arn.startswith(_FUNCTION_ARN_PREFIX):
            return self._to_queue(arn, message.id, record, {})
        name, _, qualifier = arn[len(_FUNCTION_ARN_PREFIX):].partition(":")
        destination = {"function": name, "qualifier": qualifier or None}
        return [NewMessage(new_request_id(), ASYNC_QUEUE, record, orjson.dumps(destination))]

    def _to_queue(self, arn: str, event_id: str, body: bytes, attributes: Mapping[str, str]) -> list[NewMessage]:
        """A message for the queue ``arn`` names, with string attributes; none (logged) if it does not exist."""
        name = arn.rsplit(":", 1)[-1]
        queue = self.platform.catalog.queues.get(name)
        if queue is None:
            log.warning("the record of asynchronous event %s is lost: queue %s does not exist", event_id, name)
            return []
        meta = queue_messages.MessageMeta({key: {"DataType": "String", "StringValue": value}
                                           for key, value in attributes.items()}, ACCOUNT_ID)
        return [NewMessage(str(uuid.uuid4()), name, body, queue_messages.encode(meta), float(queue.delay_s))]

    def _notify(self, sent: list[NewMessage]) -> None:
        for message in sent:
            if message.queue == ASYNC_QUEUE:
                self._wake.set()
            else:
                self.platform.queues.notify(message.queue)


def invocation_record(message: Message, meta: Mapping[str, Any], condition: str, invocation: Invocation | None,
                      now: float) -> dict[str, Any]:
    """Lambda's invocation record for a destination."""
    version = invocation.record.version if invocation is not None else meta["qualifier"] or LATEST
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": message.id,
            "functionArn": function_arn(meta["function"], meta["qualifier"] or LATEST),
            "condition": condition,
            "approximateInvokeCount": message.receive_count,
        },
        "requestPayload": orjson.Fragment(message.body),
    }
    if invocation is not None:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": version}
        if invocation.error is not None:
            response["functionError"] = invocation.error.function_error
            record["responsePayload"] = invocation.error.to_payload()
        else:
            assert invocation.payload is not None
            record["responsePayload"] = orjson.Fragment(invocation.payload)
        record["responseContext"] = response
    return record


def cron_host(catalog: Catalog, site: str) -> str | None:
    """The host a project's cron calls name: its first exact host (None: the gateway's own address)."""
    spec = catalog.sites.get(site)
    if spec is None:
        return None
    return next((host for host in spec.hosts if not host.startswith("*.")), None)


def cron_secret(catalog: Catalog, site: str) -> str | None:
    """``CRON_SECRET`` from the environment of the project's functions, as Vercel's cron calls send it."""
    for route in catalog.routes:
        if route.site == site:
            record = catalog.functions.get(route.function)
            if record is not None and record.latest.env.get("CRON_SECRET"):
                return record.latest.env["CRON_SECRET"]
    return None
