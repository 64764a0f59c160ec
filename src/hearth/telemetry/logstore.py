"""The durable log store: every invocation record and every instance's own output, in append-only segment files.

``append`` is a ``RecordLog`` sink and only enqueues (a length check and a ``deque.append``). The writer thread
wakes every ``WRITE_INTERVAL_S`` (or at once when a quarter of the queue is waiting, or on ``flush``), not on every
record: a wake-up per record made the writer take the interpreter's lock while the event loop served the next
request (+100 µs p50 at one connection, measured). It takes everything waiting, turns it into entries
(``logformat.py``: one JSON object per line), writes the batch with one ``write``, fsyncs at most once per
``fsync_interval_s``, and hands the batch to followers with one wake-up of their loop. When the queue is full, or
the folder cannot be written (missing, not a folder, disk full), records are dropped and counted (``dropped``):
logging never raises into the platform and never makes an invocation wait.

Segments are named after the time they were opened (``<epoch ms>.jsonl``) and roll by size and when the hour
changes, so a query reads only the segments its time window can touch (a segment spans from its name to the next
one's, give or take ``SKEW_S`` for records queued while the segment changed). Retention deletes whole segments:
those whose last possible record is older than ``retention_s``, then the oldest while the total is over
``max_bytes``. A torn last line (a crash mid-write) is skipped when read.

Followers (``follow``) get each stored batch in a bounded buffer; one that falls behind loses entries and is told
how many. ``follow`` also fixes a position: a query ``upto`` that position plus what the follower gets afterwards
is every entry exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import orjson

from hearth.model import InvocationRecord
from hearth.telemetry.logformat import Entry, output_entry, readable, stored_record
from hearth.telemetry.records import InstanceOutput

log = logging.getLogger("hearth.logs")

DEFAULT_RETENTION_S = 7 * 86400.0
DEFAULT_MAX_BYTES = 1024 ** 3
SEGMENT_BYTES = 16 * 1024 ** 2
QUEUE_CAPACITY = 10_000  # records waiting for the writer
FOLLOW_CAPACITY = 1_000  # entries waiting for one follower
FSYNC_INTERVAL_S = 1.0
WRITE_INTERVAL_S = 0.1  # how long a record may wait to be written (and shown to followers) when all is quiet
RETENTION_CHECK_S = 60.0
SKEW_S = 60.0  # how far a record's time may precede the segment it is written to
SUFFIX = ".jsonl"
Opener = Callable[[Path], BinaryIO]


class Position(NamedTuple):
    """A point in the store: the segment (its start in epoch ms) and the bytes of it written."""

    segment: int
    offset: int


@dataclass(frozen=True)
class Segment:
    """One segment file on disk."""

    start_ms: int
    path: Path


def _open_append(path: Path) -> BinaryIO:
    return open(path, "ab", buffering=0)  # noqa: SIM115 (the store keeps it open between batches)


class Follower:
    """One in-process subscriber: the entries stored since it last asked, and how many it lost for lack of room."""

    def __init__(self, store: LogStore, loop: asyncio.AbstractEventLoop, capacity: int, after: Position) -> None:
        self.store = store
        self.loop = loop
        self.capacity = capacity
        self.after = after  # everything up to here is on disk for a query; everything after comes here
        self.lost = 0
        self.closed = False
        self._entries: collections.deque[Entry] = collections.deque()
        self._ready = asyncio.Event()

    def _deliver(self, entries: list[Entry]) -> None:
        room = self.capacity - len(self._entries)
        if room < len(entries):
            self.lost += len(entries) - max(room, 0)
            entries = entries[:max(room, 0)]
        self._entries.extend(entries)
        self._ready.set()

    def _close(self) -> None:
        self.closed = True
        self._ready.set()

    async def get(self, timeout_s: float) -> tuple[list[Entry], int]:
        """The entries waiting (waits up to ``timeout_s`` for one) and the count lost since the last call;
        after the store ends its follows, returns at once."""
        if not self._entries and not self.lost and not self.closed:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except TimeoutError:
                pass
        self._ready.clear()
        entries = list(self._entries)
        self._entries.clear()
        lost, self.lost = self.lost, 0
        return entries, lost

    def close(self) -> None:
        """Stop receiving entries."""
        self.store.unfollow(self)


class LogStore:
    """Segment files under ``directory``; see the module docstring."""

    def __init__(self, directory: Path, *, retention_s: float = DEFAULT_RETENTION_S,
                 max_bytes: int = DEFAULT_MAX_BYTES, segment_bytes: int = SEGMENT_BYTES,
                 queue_capacity: int = QUEUE_CAPACITY, fsync_interval_s: float = FSYNC_INTERVAL_S,
                 clock: Callable[[], float] = time.time, opener: Opener = _open_append) -> None:
        self.directory = directory
        self.retention_s = retention_s
        self.max_bytes = max_bytes
        self.segment_bytes = max(1, min(segment_bytes, max_bytes // 4))  # the open segment stays a small share
        self.queue_capacity = queue_capacity
        self.fsync_interval_s = fsync_interval_s
        self.clock = clock
        self.opener = opener
        self.dropped_full = 0  # records refused because the queue was full (counted on the caller's thread)
        self.dropped_unwritable = 0  # records lost because the folder could not be written (writer thread)
        self._queue: collections.deque[tuple[InvocationRecord | InstanceOutput, float]] = collections.deque()
        self._enqueued = 0
        self._handled = 0
        self._idle = True
        self._wake = threading.Event()
        self._wake_at = max(1, queue_capacity // 4)  # this many waiting wakes the writer before its interval
        self._done = threading.Condition()
        self._lock = threading.Lock()  # the position and the followers, shared by the writer and the loop
        self._followers: list[Follower] = []
        self._file: BinaryIO | None = None
        self._segment = Position(0, 0)
        self._synced = 0.0
        self._unsynced = False
        self._retention_checked = float("-inf")
        self._failing = False
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def dropped(self) -> int:
        """Records dropped so far, for any reason."""
        return self.dropped_full + self.dropped_unwritable

    # -- the caller's side (the event loop) ----------------------------------------------------------------------

    def append(self, item: InvocationRecord | InstanceOutput) -> None:
        """A ``RecordLog`` sink: queue ``item`` for the writer, or drop and count it when the queue is full."""
        if len(self._queue) >= self.queue_capacity:
            self.dropped_full += 1
            return
        self._queue.append((item, self.clock()))
        self._enqueued += 1
        if self._idle and len(self._queue) >= self._wake_at:
            self._idle = False
            self._wake.set()

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_forever, name="hearth-logs", daemon=True)
            self._thread.start()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued before this call is written (or dropped); False on timeout. Blocks: call it
        from a thread, never on the event loop."""
        target = self._enqueued
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._handled >= target or self._thread is None, timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, fsync, stop the writer and end every follow. Blocks up to ``timeout_s``."""
        self.end_follows()
        thread = self._thread
        if thread is not None:
            self._stopping = True
            self._wake.set()
            thread.join(timeout_s)
            self._thread = None
        with self._done:
            self._done.notify_all()

    def follow(self, capacity: int = FOLLOW_CAPACITY) -> Follower:
        """A new follower on the running loop; its ``after`` is where a backlog query should stop."""
        loop = asyncio.get_running_loop()
        with self._lock:
            after = self._segment
            if after.segment == 0:  # nothing written yet by this store: its first write opens a newer segment
                existing = self.segments()
                after = Position(existing[-1].start_ms if existing else 0, sys.maxsize)
            follower = Follower(self, loop, capacity, after)
            self._followers.append(follower)
        return follower

    def unfollow(self, follower: Follower) -> None:
        with self._lock:
            if follower in self._followers:
                self._followers.remove(follower)

    def end_follows(self) -> None:
        """Tell every follower that no more entries will come (the platform is stopping)."""
        with self._lock:
            followers, self._followers = self._followers, []
        for follower in followers:
            try:
                follower.loop.call_soon_threadsafe(follower._close)
            except RuntimeError:  # its loop is closed: nobody is waiting
                pass

    # -- the writer thread ---------------------------------------------------------------------------------------

    def _write_forever(self) -> None:
        while True:
            self._wake.wait(min(self.fsync_interval_s, WRITE_INTERVAL_S))
            self._wake.clear()
            while True:
                batch = []
                while self._queue:
                    batch.append(self._queue.popleft())
                if batch:
                    self._write(batch)
                self._idle = True
                if not self._queue:  # an item appended after the drain finds ``_idle`` set and wakes us
                    break
                self._idle = False
            self._housekeeping()
            if self._stopping:
                self._sync()
                self._close_file()
                return

    def _write(self, batch: list[tuple[InvocationRecord | InstanceOutput, float]]) -> None:
        # Invocations are stored as their records' fields (``stored_record``): one C call each, since this thread
        # shares the interpreter with the event loop; their console lines are made when they are read. Each line
        # goes into one buffer at once: a batch of separate ``bytes`` kept alive until the write took fresh heap
        # pages from the kernel on every batch (and gave them back after it), ~5 µs per record on this VM.
        data = bytearray()
        written = 0
        followed = bool(self._followers)
        entries = []
        for item, received in batch:
            try:
                line = (stored_record(item) if isinstance(item, InvocationRecord)
                        else orjson.dumps(output_entry(item, received)))
            except Exception:  # a malformed record must not stop the writer
                log.exception("log store: cannot encode a record; dropped")
                self.dropped_unwritable += 1
                continue
            data += line
            data += b"\n"
            written += 1
            if followed:
                entries.append(orjson.loads(line))
        try:
            self._write_bytes(data)
        except OSError as exc:
            self.dropped_unwritable += written
            self._close_file()  # a partial line may be left: the next batch starts a new segment
            if not self._failing:
                self._failing = True
                log.warning("log store: cannot write to %s (%s); records are dropped until it can",
                            self.directory, exc.strerror or exc)
        else:
            if self._failing:
                self._failing = False
                log.warning("log store: writing to %s again", self.directory)
            with self._lock:
                self._segment = Position(self._segment.segment, self._segment.offset + len(data))
                followers = list(self._followers)
            if followers:
                entries = [readable(entry) for entry in entries]
            for follower in followers:
                try:
                    follower.loop.call_soon_threadsafe(follower._deliver, entries)
                except RuntimeError:
                    pass
        finally:
            with self._done:
                self._handled += len(batch)
                self._done.notify_all()

    def _write_bytes(self, data: bytes | bytearray) -> None:
        now = self.clock()
        current = self._segment
        if (self._file is None or (current.offset and current.offset + len(data) > self.segment_bytes)
                or int(now // 3600) != current.segment // 3_600_000):
            self._roll(now)
        assert self._file is not None
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            if written is None:
                raise OSError("the segment file would block")
            view = view[written:]
        self._unsynced = True

    def _roll(self, now: float) -> None:
        self._sync()
        self._close_file()
        self.directory.mkdir(parents=True, exist_ok=True)
        start = int(now * 1000)
        newest = self.segments()
        if newest and newest[-1].start_ms >= start:  # names keep the order of opening
            start = newest[-1].start_ms + 1
        self._file = self.opener(self.directory / f"{start:013d}{SUFFIX}")
        with self._lock:
            self._segment = Position(start, 0)
        self._retention_checked = float("-inf")

    def _sync(self) -> None:
        if self._file is not None and self._unsynced:
            try:
                os.fsync(self._file.fileno())
            except OSError as exc:
                log.warning("log store: fsync failed (%s)", exc.strerror)
            self._unsynced = False
        self._synced = self.clock()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def _housekeeping(self) -> None:
        now = self.clock()
        if self._unsynced and now - self._synced >= self.fsync_interval_s:
            self._sync()
        if now - self._retention_checked >= RETENTION_CHECK_S:
            self._retention_checked = now
            self.enforce_retention()

    def enforce_retention(self) -> int:
        """Delete whole segments older than the retention, then the oldest while over the size; returns how many.
        The segment being written is never deleted."""
        segments = self.segments()
        with self._lock:
            open_segment = self._segment.segment if self._file is not None else None
        candidates = [segment for segment in segments if segment.start_ms != open_segment]
        removed = 0
        cutoff_ms = (self.clock() - self.retention_s) * 1000
        sizes = {segment.path: _size(segment.path) for segment in segments}
        total = sum(sizes.values())
        for index, segment in enumerate(segments):
            if segment not in candidates:
                continue
            end_ms = segments[index + 1].start_ms if index + 1 < len(segments) else None
            too_old = end_ms is not None and end_ms < cutoff_ms
            if too_old or total > self.max_bytes:
                try:
                    segment.path.unlink()
                except OSError:
                    continue
                total -= sizes[segment.path]
                removed += 1
        return removed

    # -- reading ---------------------------------------------------------------------------------------------------

    def segments(self) -> list[Segment]:
        """Every segment on disk, oldest first."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        found = []
        for name in names:
            if name.endswith(SUFFIX) and name[:-len(SUFFIX)].isdigit():
                found.append(Segment(int(name[:-len(SUFFIX)]), self.directory / name))
        return sorted(found, key=lambda segment: segment.start_ms)

    def query(self, function: str | None = None, request_id: str | None = None, since: float | None = None,
              until: float | None = None, status: str | None = None, text: str | None = None, limit: int = 100,
              upto: Position | None = None) -> list[Entry]:
        """The newest ``limit`` entries that match, oldest first; blocking (run it in a thread).

        ``since``/``until`` bound an entry's time (an invocation's end); ``text`` is a substring of one of its
        lines; ``request_id`` and ``status`` match invocations only. Segments outside the window are not opened.
        """
        # ``text`` may be in a line made when read (START, END, REPORT): it is matched after ``readable``.
        needles = [_json_fragment("function", function), _json_fragment("request_id", request_id),
                   _json_fragment("status", status)]
        found: list[Entry] = []
        for segment in self.window(since, until, upto):
            cut = upto.offset if upto is not None and segment.start_ms == upto.segment else None
            for raw in reversed(list(_lines(segment.path, cut))):
                if any(needle is not None and needle not in raw for needle in needles):
                    continue
                try:
                    entry = readable(orjson.loads(raw))
                except (orjson.JSONDecodeError, TypeError, KeyError):
                    continue  # a torn line
                if matches(entry, function, request_id, since, until, status, text):
                    found.append(entry)
                    if len(found) >= limit:
                        return found[::-1]
        return found[::-1]

    def scan(self, since: float | None, until: float | None) -> Iterator[Entry]:
        """Every stored object of the segments that may hold ``[since, until]``, newest segment first, as stored
        (an invocation's record fields, not its ``readable`` entry); blocking, for whole-window summaries."""
        for segment in self.window(since, until, None):
            for raw in _lines(segment.path, None):
                try:
                    yield orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue  # a torn line

    def window(self, since: float | None, until: float | None, upto: Position | None) -> Iterator[Segment]:
        """The segments that may hold entries in ``[since, until]``, newest first."""
        segments = self.segments()
        for index in range(len(segments) - 1, -1, -1):
            segment = segments[index]
            if upto is not None and segment.start_ms > upto.segment:
                continue
            first = segment.start_ms / 1000 - SKEW_S
            last = segments[index + 1].start_ms / 1000 if index + 1 < len(segments) else float("inf")
            if until is not None and first > until:
                continue
            if since is not None and last < since:
                break  # every older segment ends even earlier
            yield segment


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _lines(path: Path, cut: int | None) -> list[bytes]:
    try:
        with open(path, "rb") as file:
            data = file.read() if cut is None else file.read(cut)
    except OSError:
        return []
    return data.splitlines()


def _json_fragment(key: str, value: str | None) -> bytes | None:
    """The bytes ``"key":"value"`` as orjson writes them, to skip lines before parsing them."""
    return None if value is None else orjson.dumps(key) + b":" + orjson.dumps(value)


def matches(entry: Entry, function: str | None = None, request_id: str | None = None, since: float | None = None,
            until: float | None = None, status: str | None = None, text: str | None = None) -> bool:
    """Whether ``entry`` passes a query's filters (see ``LogStore.query``)."""
    if function is not None and entry.get("function") != function:
        return False
    if request_id is not None and entry.get("request_id") != request_id:
        return False
    if status is not None and entry.get("status") != status:
        return False
    moment = entry.get("time", 0.0)
    if since is not None and moment < since:
        return False
    if until is not None and moment > until:
        return False
    return text is None or any(text in line["message"] for line in entry.get("lines", ()))
