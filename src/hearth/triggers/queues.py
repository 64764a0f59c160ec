"""The platform's queue service: sending to, receiving from and sweeping the user queues whose settings the catalog
keeps (``QueueSpec``) and whose messages the event store keeps (in the queue of the same name).

- ``send`` stores messages and wakes whoever waits on the queue: a long-polling ReceiveMessage, or (later) an event
  source mapping's poller through ``wait``.
- ``receive`` claims up to ``limit`` messages for a visibility timeout, with the queue's redrive policy as the
  claim's ``dead_letter`` (so a message received ``max_receive_count`` times moves to the dead-letter queue on the
  next receive, as SQS moves it). With a wait it long-polls: it sleeps until a send to the queue, the next message
  becoming visible (a delay or a visibility timeout running out), or the end of the wait — never in a busy loop.
- ``sweep`` drops messages older than their queue's retention, at most ``SWEEP_BATCH`` per queue per pass, so one
  pass never holds the event store's writer long; the platform runs it every ``SWEEP_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hearth import errors
from hearth.model import QueueSpec
from hearth.store.events import EventStore, Message, NewMessage

if TYPE_CHECKING:
    from hearth.catalog import Catalog

log = logging.getLogger("hearth.queues")

SWEEP_INTERVAL_S = 30.0
SWEEP_BATCH = 1000


class QueueService:
    """Sends, long-polling receives and retention of the catalog's queues; see the module docstring."""

    def __init__(self, catalog: Catalog, store: EventStore, *, clock: Callable[[], float] = time.time) -> None:
        self.catalog = catalog
        self.store = store
        self.clock = clock
        self._signals: dict[str, asyncio.Event] = {}  # a queue's next send sets (and drops) its event
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        self._waiting: dict[str, int] = {}  # receivers and pollers waiting on each queue

    async def send(self, queue: str, messages: Sequence[NewMessage]) -> None:
        """Store messages of ``queue`` (each ``NewMessage.queue`` is it) and wake its waiters once durable."""
        await self.store.send(messages)
        self.notify(queue)

    def notify(self, queue: str) -> None:
        """Wake everything waiting on ``queue``."""
        signal = self._signals.pop(queue, None)
        if signal is not None:
            signal.set()

    def _signal(self, queue: str) -> asyncio.Event:
        signal = self._signals.get(queue)
        if signal is None:
            signal = self._signals[queue] = asyncio.Event()
        return signal

    def waiting(self, queue: str) -> int:
        """How many receivers (and pollers) wait on ``queue`` now (``GET /hearth/queues`` shows it)."""
        return self._waiting.get(queue, 0)

    async def wait(self, queue: str, timeout_s: float) -> None:
        """Return on the next send to ``queue``, or after ``timeout_s``."""
        await self._wait(queue, self._signal(queue), timeout_s)

    async def _wait(self, queue: str, signal: asyncio.Event, timeout_s: float) -> None:
        self._waiting[queue] = self._waiting.get(queue, 0) + 1
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await signal.wait()
        except TimeoutError:
            pass
        finally:
            left = self._waiting[queue] - 1
            if left:
                self._waiting[queue] = left
            else:
                del self._waiting[queue]

    def dead_letter(self, spec: QueueSpec) -> tuple[str, int] | None:
        """The claim's ``dead_letter`` for ``spec``: its redrive policy while its dead-letter queue exists (a
        message is not moved into a queue that was deleted: it keeps being received instead)."""
        target, count = spec.dead_letter_queue, spec.max_receive_count
        if target is None or count is None or target not in self.catalog.queues:
            return None
        return target, count

    async def receive(self, spec: QueueSpec, limit: int, visibility_s: float, wait_s: float) -> list[Message]:
        """Up to ``limit`` messages of ``spec``'s queue, hidden for ``visibility_s``; waits up to ``wait_s`` for
        one when none is visible."""
        deadline = self.clock() + wait_s
        dead_letter = self.dead_letter(spec)
        while True:
            signal = self._signal(spec.name)  # before the claim: a send after it sets this event
            messages = await self.store.claim(spec.name, limit, visibility_s, dead_letter=dead_letter)
            if dead_letter is not None:
                self.notify(dead_letter[0])  # it may have gained messages
            remaining = deadline - self.clock()
            if messages or remaining <= 0 or self._closing:
                return messages
            due = await self.store.next_visible(spec.name)
            timeout = remaining if due is None else min(remaining, max(0.0, due - self.clock()))
            await self._wait(spec.name, signal, timeout)
            if spec.name not in self.catalog.queues:
                raise errors.QueueNotFound(f"The specified queue {spec.name} does not exist.")

    # -- retention ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        """Stop sweeping, and end every long poll now (with what it has: nothing)."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for queue in list(self._signals):
            self.notify(queue)

    async def sweep(self) -> int:
        """Drop messages past their queue's retention, at most ``SWEEP_BATCH`` per queue; returns how many."""
        dropped = 0
        now = self.clock()
        for spec in list(self.catalog.queues.values()):
            dropped += await self.store.expire(spec.name, now - spec.message_retention_s, SWEEP_BATCH)
        return dropped

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                dropped = await self.sweep()
            except errors.ServiceError as error:
                log.error("cannot drop expired queue messages (retrying): %s", error.message)
                continue
            if dropped:
                log.info("dropped %d queue messages past their retention", dropped)
