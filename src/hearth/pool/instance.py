"""What the pool needs from an instance and from a runtime, and the instance lifecycle as a state machine.

    COLD ──start──▶ INITIALIZING ──ready──▶ IDLE ⇄ BUSY
      │                  │                   │      │
      └──────────────────┴───────────────────┴──────┴──▶ STOPPED

A runtime (Python, later ``provided`` and ``http``) implements ``Runtime.create`` and an ``Instance``; the pool
only ever sees these two, which keeps the door open for a remote node agent standing behind them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hearth.errors import FunctionFailure, ServiceError
from hearth.model import FunctionSpec

if TYPE_CHECKING:
    from hearth.pool.streaming import ResponseStream


class State(enum.StrEnum):  # a StrEnum hashes in C; Enum.__hash__ is Python code, on every transition
    COLD = "cold"
    INITIALIZING = "initializing"
    IDLE = "idle"
    BUSY = "busy"
    STOPPED = "stopped"


_ALLOWED: dict[State, frozenset[State]] = {
    State.COLD: frozenset({State.INITIALIZING, State.STOPPED}),
    State.INITIALIZING: frozenset({State.IDLE, State.STOPPED}),
    State.IDLE: frozenset({State.BUSY, State.STOPPED}),
    State.BUSY: frozenset({State.IDLE, State.STOPPED}),
    State.STOPPED: frozenset({State.STOPPED}),
}


class Lifecycle:
    """The current state of one instance; an illegal transition raises ``ServiceError``."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = State.COLD

    def to(self, target: State) -> None:
        if target not in _ALLOWED[self.state]:
            raise ServiceError(f"instance cannot go from {self.state.value} to {target.value}")
        self.state = target


@dataclass(slots=True)
class InvokeRequest:
    """One call as it reaches an instance. ``event`` is a JSON-able value or an ``orjson.Fragment``; ``stream``,
    when given, lets an instance that can stream send the response through it (``pool/streaming.py``)."""

    request_id: str
    event: Any
    trigger: str = "http"
    trace_id: str | None = None
    client_context: str | None = None  # the caller's ClientContext (JSON), as Invoke's X-Amz-Client-Context gives it
    stream: ResponseStream | None = None
    alias: str | None = None  # the alias the caller named, when it named one (the record keeps it)


@dataclass(slots=True)
class InvokeOutcome:
    """What one invocation produced: a JSON payload or a failure, and its measurements and log lines."""

    payload: bytes | None
    error: FunctionFailure | None
    duration_ms: float
    max_rss_kb: int
    log_lines: Sequence[str] = ()
    log_times: Sequence[float] = ()  # when each line was read, when the runtime knows
    status: str = "success"  # success | error | timeout | oom | crash
    # False: the instance ended before the invocation reached it (a runtime that exited while idle, before asking
    # for its next invocation): nothing of the call ran, and the pool may give it to another instance
    delivered: bool = True


class Instance(Protocol):
    """One execution environment of one function version; one invocation at a time."""

    id: int
    lifecycle: Lifecycle
    generation: int
    last_used: float
    pid: int | None
    init_ms: float | None
    init_log_lines: list[str]
    on_stopped: Callable[[Any], None] | None  # set by the pool; called once when the instance stops

    async def start(self) -> None:
        """Run the Init phase; raises ``FunctionFailure`` (and ends up STOPPED) when it fails."""

    async def invoke(self, request: InvokeRequest, timeout_s: float) -> InvokeOutcome:
        """Run one invocation; the instance is STOPPED afterwards if the outcome says it cannot be reused."""

    def stop(self) -> None:
        """Stop the instance now (kill its whole process tree); idempotent."""


class Runtime(Protocol):
    """Creates instances of one kind (the Python runtime, later ``provided`` and ``http``)."""

    name: str

    def create(self, spec: FunctionSpec, generation: int, *, provisioned: bool = False) -> Instance:
        """A new COLD instance of ``spec``; ``start()`` begins its Init phase (ahead of traffic if provisioned)."""

    async def close(self) -> None:
        """Stop everything this runtime started."""
