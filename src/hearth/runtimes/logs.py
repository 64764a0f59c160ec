"""An instance's output: the read end of the pipe that is its fd 1 and 2, cut into lines per phase.

Every runtime captures output the same way, at the file-descriptor level, so output from C extensions, child
processes and runtimes that are not Python is captured too. Lines belong to the phase in flight (Init, then
each invocation); the runtime closes a phase with ``end_phase`` once it knows that everything the phase wrote is
in the pipe, which holds because a write to a pipe is complete when the writer's ``write()`` returns. Each line
keeps the time it was read (``times``; ``last_times`` for the phase just closed): one clock read per chunk.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time

LOG_CAP_BYTES = 1024 * 1024  # per phase (and per line); the rest is dropped and the drop reported
RECENT_LINES = 20


class LogPipe:
    """Reads one instance's output pipe on the event loop; ``lines`` is the current phase's list."""

    __slots__ = ("_bytes", "_dropped", "_fd", "_partial", "last_times", "lines", "recent", "times")

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd: int | None = fd
        self._partial = b""
        self._bytes = 0
        self._dropped = 0
        self.lines: list[str] = []
        self.times: list[float] = []  # when each of ``lines`` was read (epoch seconds; one clock read per chunk)
        self.last_times: list[float] = []  # the times of the lines ``end_phase`` returned last
        self.recent: collections.deque[str] = collections.deque(maxlen=RECENT_LINES)  # across phases, for errors
        asyncio.get_running_loop().add_reader(fd, self.read)

    def read(self) -> None:
        """Take everything the pipe holds now."""
        fd = self._fd
        if fd is None:
            return
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                break
            self._take(chunk)

    def _take(self, chunk: bytes) -> None:
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        if len(self._partial) > LOG_CAP_BYTES:  # output that never ends a line is cut, not held whole in memory
            complete.append(self._partial)
            self._partial = b""
        now = time.time() if complete else 0.0
        for raw in complete:
            if self._bytes + len(raw) > LOG_CAP_BYTES:
                self._dropped += len(raw) + 1
                continue
            self._bytes += len(raw) + 1
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            self.times.append(now)
            self.recent.append(line)

    def end_phase(self, drain: bool = True) -> list[str]:
        """Close the current phase and return its lines (a last line without newline and a note of dropped
        output included); the next phase starts with an empty list.

        ``drain=False`` when the caller knows the pipe is empty (the common case: no syscall).
        """
        if drain:
            self.read()
        if self._partial:
            self._take(b"\n")
        if self._dropped:
            self.lines.append(f"[hearth] output over {LOG_CAP_BYTES // 1024} KiB for this invocation: "
                              f"{self._dropped} bytes dropped")
            self.times.append(time.time())
            self._dropped = 0
        lines = self.lines
        self.last_times = self.times
        self.lines = []
        self.times = []
        self._bytes = 0
        return lines

    def tail(self) -> str:
        """The last lines written, for an error message."""
        self.read()
        lines = list(self.recent)
        if self._partial:
            lines.append(self._partial.decode("utf-8", "replace"))
        return "\n".join(lines)

    def close(self) -> None:
        """Read what is left and stop watching the pipe; idempotent."""
        fd = self._fd
        if fd is None:
            return
        self.read()
        self._fd = None
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
