"""The event store: durable messages that something will act on later (asynchronous invocations now; queues and
schedules use it too). An event Hearth has accepted is in the store before the caller hears so, and leaves it only
when what it asked for is done.

A message lives in a named queue (asynchronous invocations share ``ASYNC_QUEUE``) and is *visible* from
``visible_at`` on. ``claim`` takes visible messages and hides them for a lease, with a new ``receipt`` and one more
``receive_count``; the claimer then ``delete``s the message (done; with ``then_send``, the messages it leads to are
stored in the same transaction) or ``release``s it (visible again after a delay). A receipt of an earlier claim
is stale: its delete or release changes nothing, so a message that was claimed again is never deleted by the
first claimer.

Delivery is at-least-once. A claimer that dies leaves its claims behind; every store records its claimer
(``owner``), and ``recover`` releases the claims of owners that are gone: on this host, a dead process id; on any
host, a heartbeat older than ``STALE_S``. A handler can therefore run twice for one message: after a crash between
its end and the delete, or when a lease runs out while it still runs. Every message keeps its id across
deliveries, for de-duplication.

User queues (``QueueSpec``, named as the queue) add what SQS needs: ``claim`` with ``dead_letter`` moves the
messages that were received too often to a dead-letter queue instead of returning them; ``change_visibility``
moves a claimed message's lease; ``purge`` empties a queue; ``stats`` counts visible, in-flight and delayed
messages; ``expire`` drops messages older than the queue's retention.

Schedules keep their last tick here (``advance``), in the same transaction as the events a tick sends, so a tick
is recorded exactly when its event is stored: a restarted process, or a second one on the same file, never fires it
again.

``EventStore`` is the interface (a PostgreSQL back end can stand behind it later); ``sqlite_events.py`` is the
embedded default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

ASYNC_QUEUE = "@async"  # asynchronous invocations of every function; user queues cannot start with "@"
STALE_S = 30.0  # a claimer whose heartbeat is older than this is gone
HEARTBEAT_S = 5.0


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store: ``body`` and ``meta`` are the caller's bytes (JSON by convention)."""

    id: str
    queue: str
    body: bytes
    meta: bytes = b""
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Message:
    """A claimed message."""

    id: str
    queue: str
    body: bytes
    meta: bytes
    sent_at: float  # epoch seconds
    receive_count: int  # claims so far, this one included
    receipt: str  # this claim's; a later claim makes it stale
    first_received_at: float | None = None  # epoch seconds of the first claim (SQS's ApproximateFirstReceive…)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many messages a queue holds, by state (SQS's ApproximateNumberOfMessages…)."""

    visible: int  # can be claimed now
    in_flight: int  # claimed, their lease not yet over
    delayed: int  # sent with a delay (or released with one), not yet visible
    oldest_sent_at: float | None = None  # epoch seconds of the oldest message; None when the queue is empty


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """What the store keeps of a schedule: its last tick (epoch seconds; None before the first) and its pause."""

    last_tick: float | None
    paused: bool = False


class EventStore(Protocol):
    """Durable queues of messages; every call returns once its effect is stored (or raises ``ServiceError``)."""

    async def send(self, messages: Sequence[NewMessage]) -> None:
        """Store messages; a message whose id is already stored in its queue is not stored again."""

    async def claim(self, queue: str, limit: int, lease_s: float,
                    dead_letter: tuple[str, int] | None = None) -> list[Message]:
        """Up to ``limit`` visible messages of ``queue``, oldest first, hidden for ``lease_s``.

        With ``dead_letter`` = (queue, max_receive_count), visible messages already claimed that many times are
        moved to that queue in the same transaction instead (same id, body and meta; visible at once, receive
        count 0, ``sent_at`` kept: as SQS, retention counts from the original send)."""

    async def delete(self, message: Message, then_send: Sequence[NewMessage] = ()) -> bool:
        """Remove a claimed message (and store ``then_send`` with it); False when the receipt is stale."""

    async def release(self, message: Message, delay_s: float, *, counted: bool = True) -> bool:
        """Make a claimed message visible again after ``delay_s``; ``counted=False`` takes back its receive count
        (the claim did not get to try it). False when the receipt is stale."""

    async def change_visibility(self, message: Message, timeout_s: float) -> bool:
        """Hide a claimed message until ``timeout_s`` from now (0: visible at once), keeping its receipt;
        False when the receipt is stale."""

    async def purge(self, queue: str) -> int:
        """Delete every message of ``queue``, claimed or not; returns how many."""

    async def stats(self, queue: str) -> QueueStats:
        """How many messages of ``queue`` are visible, in flight (claimed) and delayed."""

    async def expire(self, queue: str, before: float, limit: int = 1000) -> int:
        """Delete up to ``limit`` messages of ``queue`` sent before ``before`` (epoch seconds), claimed or not;
        returns how many (fewer than ``limit``: none are left)."""

    async def next_visible(self, queue: str) -> float | None:
        """When the next message of ``queue`` becomes visible (epoch seconds), or None when it is empty."""

    async def count(self, queue: str) -> int:
        """How many messages ``queue`` holds, visible or not."""

    async def schedule_states(self) -> dict[str, ScheduleState]:
        """The last tick and the pause of every schedule that has fired or been paused, by name."""

    async def advance(self, name: str, tick: float, messages: Sequence[NewMessage] = ()) -> bool:
        """Record ``tick`` (epoch seconds) as the schedule's last one and store ``messages`` with it, in one
        transaction, unless its last tick is already at or after ``tick`` (another process fired it): False then,
        and nothing is stored."""

    async def set_paused(self, name: str, paused: bool) -> None:
        """Pause or resume a schedule (its state is kept apart from its spec, so a redeploy keeps it)."""

    async def forget_schedules(self, keep: Sequence[str]) -> None:
        """Drop the state of every schedule not named in ``keep``."""

    async def recover(self) -> int:
        """Release the claims of claimers that are gone; returns how many."""

    async def close(self) -> None:
        """Stop the store; its claims stay for ``recover`` (of another process) to release."""
