"""Where invocation records go: a bounded in-memory history (queried by the control API) and any sinks."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from hearth.model import InvocationRecord


class InstanceOutput(NamedTuple):
    """Lines an instance wrote that belong to no single invocation: a concurrent server's output (``http``
    runtime) while several requests, or none, were in flight."""

    function: str
    version: str
    instance_id: int
    lines: tuple[str, ...]


Sink = Callable[[InvocationRecord | InstanceOutput], None]


class RecordLog:
    """Keeps the most recent records and hands each new one to every sink; never blocks the caller."""

    def __init__(self, capacity: int = 10_000, sinks: Iterable[Sink] = ()) -> None:
        self.recent: deque[InvocationRecord] = deque(maxlen=capacity)
        self.sinks = list(sinks)
        self.sink_errors = 0

    def add(self, record: InvocationRecord) -> None:
        self.recent.append(record)
        for sink in self.sinks:
            try:
                sink(record)
            except Exception:  # a broken sink must not fail the invocation it reports on
                self.sink_errors += 1

    def add_output(self, output: InstanceOutput) -> None:
        """Hand an instance's own output to every sink (it is not kept: it is no invocation)."""
        for sink in self.sinks:
            try:
                sink(output)
            except Exception:
                self.sink_errors += 1

    def query(self, function: str | None = None, request_id: str | None = None,
              limit: int = 100) -> list[InvocationRecord]:
        """The newest records first, optionally for one function or one request id."""
        found: list[InvocationRecord] = []
        for record in reversed(self.recent):
            if function is not None and record.function != function:
                continue
            if request_id is not None and record.request_id != request_id:
                continue
            found.append(record)
            if len(found) >= limit:
                break
        return found
