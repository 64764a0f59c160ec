"""The ``hearth dev`` console: START / the function's lines / END / REPORT for each invocation, as Lambda logs it.

Writes are batched and flushed shortly after, in one ``write``, so printing never sits on the invocation's path.
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from hearth.model import InvocationRecord
from hearth.telemetry.records import InstanceOutput

FLUSH_DELAY_S = 0.02


def report_line(record: InvocationRecord) -> str:
    """Lambda's REPORT line for ``record``."""
    line = (f"REPORT RequestId: {record.request_id}\tDuration: {record.duration_ms:.2f} ms\t"
            f"Billed Duration: {record.billed_ms} ms\tMemory Size: {record.memory_mb} MB\t"
            f"Max Memory Used: {record.max_memory_mb} MB")
    if record.init_ms is not None:
        line += f"\tInit Duration: {record.init_ms:.2f} ms"
    return line


def format_record(record: InvocationRecord) -> list[str]:
    """Every console line of one invocation; a throttled call never started, so it prints nothing."""
    if record.status == "throttled":
        return []
    lines = list(record.init_log_lines)
    lines.append(f"START RequestId: {record.request_id} Version: {record.version}")
    lines.extend(record.log_lines)
    lines.append(f"END RequestId: {record.request_id}")
    lines.append(report_line(record))
    return lines


class ConsoleLog:
    """A record sink that prints to ``stream`` in batches."""

    def __init__(self, stream: TextIO, prefix_function: bool = False) -> None:
        self.stream = stream
        self.prefix_function = prefix_function
        self._pending: list[str] = []
        self._scheduled = False

    def __call__(self, record: InvocationRecord | InstanceOutput) -> None:
        # An instance's own output is printed as it is, outside any START/END block (as Lambda's log stream does).
        lines = list(record.lines) if isinstance(record, InstanceOutput) else format_record(record)
        if self.prefix_function:
            lines = [f"[{record.function}] {line}" for line in lines]
        self._pending.extend(lines)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_DELAY_S, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if self._pending:
            text = "\n".join(self._pending) + "\n"
            self._pending.clear()
            self.stream.write(text)
            self.stream.flush()
