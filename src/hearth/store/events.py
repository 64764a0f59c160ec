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


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """What the store keeps of a schedule: its last tick (epoch seconds; None before the first) and its pause."""

    last_tick: float | None
    paused: bool = False


class EventStore(Protocol):
    """Durable queues of messages; every call returns once its effect is stored (or raises ``ServiceError``)."""

    async def send(self, messages: Sequence[NewMessage]) -> None:
        """Store messages; a message whose id is already stored in its queue is not stored again."""

    async def claim(self, queue: str, limit: int, lease_s: float) -> list[Message]:
        """Up to ``limit`` visible messages of ``queue``, oldest first, hidden for ``lease_s``."""

    async def delete(self, message: Message, then_send: Sequence[NewMessage] = ()) -> bool:
        """Remove a claimed message (and store ``then_send`` with it); False when the receipt is stale."""

    async def release(self, message: Message, delay_s: float, *, counted: bool = True) -> bool:
        """Make a claimed message visible again after ``delay_s``; ``counted=False`` takes back its receive count
        (the claim did not get to try it). False when the receipt is stale."""

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
