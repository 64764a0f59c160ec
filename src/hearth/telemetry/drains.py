"""Log drains: every log line, as one JSON object, sent on to an HTTP(S) endpoint or written to rotating files.

A drain is a ``RecordLog`` sink that only enqueues (a length check and one ``deque.append`` per record): the
invocation never waits on a drain. A task on the platform's loop wakes every ``FLUSH_INTERVAL_S``, turns what
waits into lines and hands them on in batches of at most ``BATCH_LINES``. The lines are the console's (Init
output, START, the function's lines, END, REPORT; ``logformat.record_entry``) and an ``http`` server's own output
(``logformat.output_entry``), with fields in the spirit of Vercel's log drains::

    {"id": "3f9c01aa-1b", "timestamp": 1715774400123, "requestId": "…", "function": "hello",
     "version": "$LATEST", "level": "info", "message": "…", "source": "lambda", "traceId": "1-…"}

``source`` is ``platform`` for START, END and REPORT and ``lambda`` for everything the function printed;
``level`` is ``error`` for a failed invocation's REPORT line and its ``[ERROR]`` lines, else ``info``;
``requestId`` and ``traceId`` are left out where there is none (an ``http`` server's own output). An ``id`` is
given when the line is made (a per-drain prefix and a counter), so a batch that is retried carries the same ids
and a receiver can drop what it already has.

- **HTTP(S)** (``HttpDrain``): a batch is one ``POST`` of NDJSON (``Content-Type: application/x-ndjson``) with
  ``x-hearth-signature``: the hex HMAC-SHA256 of the body with the drain's secret (Vercel signs with HMAC-SHA1 in
  ``x-vercel-signature``; this is the same idea with a stronger hash), on a kept-alive HTTP/1.1 connection
  (``runtimes/http/client.py``; ``https`` verified against the system's certificates). A 2xx delivers the batch;
  no answer, a broken connection, a 5xx or a 429 keeps it and retries it after a back-off (``BACKOFF_FIRST_S``
  doubling to ``BACKOFF_MAX_S``); another 4xx drops it (``rejected``).
- **Files** (``FileDrain``): the same objects as JSON lines in ``<epoch ms>.jsonl`` files in a folder, a new file
  past ``FILE_BYTES`` and only the newest ``FILE_KEEP`` kept; a failed write drops the batch (``unwritable``).

Lines wait in a buffer of ``capacity`` lines (besides the batch being sent); when it is full the oldest are
dropped (``overflow``). ``close`` delivers what it can within its deadline and counts the rest (``shutdown``).
Every drop is counted by reason in ``dropped`` and every delivered line in ``sent``
(``hearth_drain_dropped_total``, ``hearth_drain_sent_total``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import ssl
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from hearth.errors import ConfigError
from hearth.model import InvocationRecord
from hearth.runtimes.http.client import BackendError, Connection
from hearth.telemetry.logformat import output_entry, record_entry
from hearth.telemetry.records import InstanceOutput

log = logging.getLogger("hearth.drains")

BUFFER_LINES = 10_000  # lines waiting per drain (besides the batch being sent)
BATCH_LINES = 1_000  # lines per POST or write
FLUSH_INTERVAL_S = 0.25  # how long a line may wait when all is well
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
CONNECT_TIMEOUT_S = 10.0
RESPONSE_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 5.0
FILE_BYTES = 16 * 1024 ** 2
FILE_KEEP = 8
SIGNATURE_HEADER = "x-hearth-signature"
REASONS = ("overflow", "rejected", "unwritable", "shutdown")
_DEFAULT_PORTS = {"http": 80, "https": 443}
Item = InvocationRecord | InstanceOutput
Line = dict[str, Any]


class Outcome(Enum):
    """What became of one batch."""

    SENT = "sent"
    RETRY = "retry"  # kept: tried again after a back-off
    DROPPED = "dropped"  # refused for good (the reason is the drain's)


def _trace_root(trace_id: str | None) -> str | None:
    """``1-…`` from the X-Ray header form ``Root=1-…;Parent=…;Sampled=…``."""
    if not trace_id:
        return None
    for part in trace_id.split(";"):
        if part.startswith("Root="):
            return part[5:]
    return trace_id


def drain_lines(item: Item, received: float) -> list[Line]:
    """The drain objects of one record or instance output, without their ``id``."""
    if isinstance(item, InstanceOutput):
        entry = output_entry(item, received)
        return [{"timestamp": int(line["time"] * 1000), "function": item.function, "version": item.version,
                 "level": "info", "message": line["message"], "source": "lambda"} for line in entry["lines"]]
    entry = record_entry(item)
    lines = entry["lines"]
    if not lines:  # throttled: it never ran
        return []
    start = len(item.init_log_lines)
    platform = {start, len(lines) - 2, len(lines) - 1}  # START, END, REPORT
    failed = item.status != "success"
    common: Line = {"requestId": item.request_id, "function": item.function, "version": item.version}
    trace = _trace_root(item.trace_id)
    if trace is not None:
        common["traceId"] = trace
    out = []
    for index, line in enumerate(lines):
        message = line["message"]
        error = failed and (index == len(lines) - 1 or message.startswith("[ERROR]"))
        out.append({**common, "timestamp": int(line["time"] * 1000), "level": "error" if error else "info",
                    "message": message, "source": "platform" if index in platform else "lambda"})
    return out


def _line_count(item: Item) -> int:
    """How many lines ``drain_lines`` makes of ``item``, without making them."""
    if isinstance(item, InstanceOutput):
        return len(item.lines)
    if item.status == "throttled":
        return 0
    return len(item.init_log_lines) + len(item.log_lines) + 3


class Drain:
    """The buffer, the batching task and the counters every drain shares; ``_deliver`` sends one batch."""

    def __init__(self, name: str, capacity: int = BUFFER_LINES, *, interval_s: float = FLUSH_INTERVAL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name  # the metrics' ``drain`` label
        self.capacity = max(1, capacity)
        self.interval_s = interval_s
        self.clock = clock
        self.sent = 0
        self.dropped = dict.fromkeys(REASONS, 0)
        self.drop_reason = "rejected"  # what a DROPPED outcome counts as
        self._incoming: collections.deque[tuple[Item, float]] = collections.deque()
        self._lines: collections.deque[bytes] = collections.deque()
        self._batch: list[bytes] = []
        self._prefix = secrets.token_hex(4)
        self._serial = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False

    def __call__(self, item: Item) -> None:
        """A ``RecordLog`` sink: queue ``item`` (dropping the oldest waiting when full); never blocks."""
        incoming = self._incoming
        if len(incoming) >= self.capacity:
            self.dropped["overflow"] += _line_count(incoming.popleft()[0])
        incoming.append((item, self.clock()))

    @property
    def waiting(self) -> int:
        """Lines not delivered yet (those still to be made counted too)."""
        return len(self._lines) + len(self._batch) + sum(_line_count(item) for item, _ in self._incoming)

    def start(self) -> None:
        """Start the task on the running loop (idempotent)."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name=f"drain {self.name}")
            self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:  # a bug: say so, the platform carries on
            log.error("log drain %s stopped", self.name, exc_info=task.exception())

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Deliver what waits within ``timeout_s``, then stop; what is left is dropped and counted."""
        self._closing = True
        task = self._task
        if task is not None:
            assert self._wake is not None
            self._wake.set()
            done, _ = await asyncio.wait([task], timeout=timeout_s)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._task = None
        self.dropped["shutdown"] += self.waiting
        self._incoming.clear()
        self._lines.clear()
        self._batch = []
        self._release()

    # -- the task ----------------------------------------------------------------------------------------------

    def absorb(self) -> None:
        """Turn the queued records into lines, dropping the oldest lines past ``capacity``."""
        incoming, lines = self._incoming, self._lines
        while incoming:
            item, received = incoming.popleft()
            try:
                made = self.make(item, received)
            except Exception:  # a malformed record must not stop the drain
                log.exception("drain %s: cannot make lines of a record; dropped", self.name)
                continue
            lines.extend(orjson.dumps(line) for line in made)
        excess = len(lines) - self.capacity
        if excess > 0:
            self.dropped["overflow"] += excess
            for _ in range(excess):
                lines.popleft()

    async def pump(self) -> Outcome | None:
        """Deliver one batch (the one being retried, else the oldest lines); None when nothing waits."""
        if not self._batch:
            take = min(BATCH_LINES, len(self._lines))
            self._batch = [self._lines.popleft() for _ in range(take)]
        if not self._batch:
            return None
        outcome = await self._deliver(self.encode(self._batch), len(self._batch))
        if outcome is Outcome.SENT:
            self.sent += len(self._batch)
        elif outcome is Outcome.DROPPED:
            self.dropped[self.drop_reason] += len(self._batch)
        if outcome is not Outcome.RETRY:
            self._batch = []
        return outcome

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            if backoff:
                await self._pause(backoff)
            elif not self._closing:
                await self._pause(self.interval_s, interruptible=True)
            self.absorb()
            while True:
                outcome = await self.pump()
                self.absorb()
                if outcome is None:
                    backoff = 0.0
                    break
                if outcome is Outcome.RETRY:
                    backoff = min(backoff * 2, BACKOFF_MAX_S) if backoff else BACKOFF_FIRST_S
                    break
                backoff = 0.0
            if self._closing and not self._batch and not self._lines and not self._incoming:
                return

    async def _pause(self, delay_s: float, interruptible: bool = False) -> None:
        """Wait ``delay_s`` (cut short by ``close`` when ``interruptible``), making lines of what arrives."""
        assert self._wake is not None
        deadline = time.monotonic() + delay_s
        while (remaining := deadline - time.monotonic()) > 0:
            if interruptible and self._closing:
                return
            if interruptible:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, self.interval_s)):
                        await self._wake.wait()
            else:  # the wake-up stays set once closing: a back-off sleeps
                await asyncio.sleep(min(remaining, self.interval_s))
            self.absorb()  # during a long back-off, so the buffer's bound is in lines, not records

    def make(self, item: Item, received: float) -> list[dict[str, Any]]:
        """The objects one record becomes: its log lines, each with an ``id`` stable across retries."""
        made = drain_lines(item, received)
        for line in made:
            self._serial += 1
            line["id"] = f"{self._prefix}-{self._serial:x}"
        return made

    def encode(self, batch: list[bytes]) -> bytes:
        """One batch's body: NDJSON."""
        return b"\n".join(batch) + b"\n"

    async def _deliver(self, body: bytes, count: int) -> Outcome:
        raise NotImplementedError

    def _release(self) -> None:
        """Give back what the drain holds open (a connection, a file)."""


class HttpDrain(Drain):
    """POSTs batches of NDJSON to ``url``, signed with ``secret``; see the module docstring."""

    content_type = "application/x-ndjson"

    def __init__(self, url: str, secret: str | None, capacity: int = BUFFER_LINES, **options: Any) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme.lower()
        if self.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ConfigError(f"log drain {url!r} is not an http(s) or file URL")
        self.host = parts.hostname
        self.port = parts.port or _DEFAULT_PORTS[self.scheme]
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.authority = parts.netloc.rsplit("@", 1)[-1]
        super().__init__(f"{self.scheme}://{self.authority}{parts.path or '/'}", capacity, **options)
        self.secret = secret.encode() if secret else None
        self._connection: Connection | None = None
        self._failing = False
        self._tls: ssl.SSLContext | None = None

    def sign(self, body: bytes) -> str:
        """The ``x-hearth-signature`` of ``body``: hex HMAC-SHA256 with the drain's secret."""
        assert self.secret is not None
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    async def _deliver(self, body: bytes, count: int) -> Outcome:
        head = (f"POST {self.target} HTTP/1.1\r\nhost: {self.authority}\r\n"
                f"content-type: {self.content_type}\r\ncontent-length: {len(body)}\r\n"
                f"user-agent: hearth-log-drain\r\n")
        if self.secret is not None:
            head += f"{SIGNATURE_HEADER}: {self.sign(body)}\r\n"
        request = head.encode("latin-1") + b"\r\n" + body
        fresh = self._connection is None
        try:
            status = await self._exchange(request)
        except (OSError, TimeoutError, ssl.SSLError, BackendError) as error:
            self._release()
            if not fresh:  # a kept-alive connection the receiver had closed: one more go on a new one
                try:
                    status = await self._exchange(request)
                except (OSError, TimeoutError, ssl.SSLError, BackendError) as again:
                    self._release()
                    return self._unreachable(again)
            else:
                return self._unreachable(error)
        if 200 <= status < 300:
            if self._failing:
                self._failing = False
                log.warning("log drain %s: delivering again", self.name)
            return Outcome.SENT
        if status == 429 or status >= 500:
            return self._unreachable(f"answered {status}")
        log.warning("log drain %s: answered %d; %d lines dropped", self.name, status, count)
        return Outcome.DROPPED

    async def _exchange(self, request: bytes) -> int:
        connection = self._connection
        if connection is None or connection.transport is None:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, connection = await asyncio.get_running_loop().create_connection(
                    Connection, self.host, self.port, ssl=self._tls_context(),
                    server_hostname=self.host if self.scheme == "https" else None)
            self._connection = connection
        connection.begin()
        connection.write(request)
        async with asyncio.timeout(RESPONSE_TIMEOUT_S):
            status, _ = await connection.response_head()
            while (await connection.read())[1]:
                pass
        if not connection.reusable:
            self._release()
        return status

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.scheme != "https":
            return None
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _unreachable(self, why: object) -> Outcome:
        if not self._failing:
            self._failing = True
            log.warning("log drain %s: %s; lines wait (at most %d) and are retried", self.name,
                        why or "timed out", self.capacity)
        return Outcome.RETRY

    def _release(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class FileDrain(Drain):
    """Appends batches of JSON lines to ``<epoch ms>.jsonl`` files in ``directory``; see the module docstring."""

    def __init__(self, directory: Path, capacity: int = BUFFER_LINES, *, file_bytes: int = FILE_BYTES,
                 keep: int = FILE_KEEP, **options: Any) -> None:
        super().__init__(f"file://{directory}", capacity, **options)
        self.directory = directory
        self.file_bytes = file_bytes
        self.keep = max(1, keep)
        self.drop_reason = "unwritable"
        self._file: Any = None
        self._size = 0
        self._failing = False

    def files(self) -> list[Path]:
        """The drain's files, oldest first."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return sorted((self.directory / name for name in names
                       if name.endswith(".jsonl") and name[:-6].isdigit()), key=lambda path: int(path.name[:-6]))

    async def _deliver(self, body: bytes, count: int) -> Outcome:
        # Local appends are fast and the loop is the only writer: written here, without fsync.
        try:
            if self._file is None or (self._size and self._size + len(body) > self.file_bytes):
                self._roll()
            self._file.write(body)
            self._size += len(body)
        except OSError as error:
            self._release()
            if not self._failing:
                self._failing = True
                log.warning("log drain %s: cannot write (%s); lines are dropped until it can", self.name,
                            error.strerror or error)
            return Outcome.DROPPED
        self._failing = False
        return Outcome.SENT

    def _roll(self) -> None:
        self._release()
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self.files()
        start = int(self.clock() * 1000)
        if existing and int(existing[-1].name[:-6]) >= start:  # names keep the order of opening
            start = int(existing[-1].name[:-6]) + 1
        self._file = open(self.directory / f"{start:013d}.jsonl", "ab", buffering=0)  # noqa: SIM115 (kept open)
        self._size = 0
        for old in existing[:max(0, len(existing) + 1 - self.keep)]:
            with contextlib.suppress(OSError):
                old.unlink()

    def _release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


class OtlpDrain(HttpDrain):
    """One OpenTelemetry span per invocation, exported as OTLP/HTTP JSON to ``<endpoint>/v1/traces`` (an
    ``otlp+http(s)://`` drain URL): the trace and span ids the gateway gave the invocation (``gateway/tracing.py``),
    its start and end, ``SERVER`` kind, an error status for a failed invocation, and ``faas.*`` / ``hearth.*``
    attributes. A record without a trace id (none is made so) is skipped."""

    content_type = "application/json"

    def __init__(self, url: str, secret: str | None, capacity: int = BUFFER_LINES, **options: Any) -> None:
        plain = url.split("+", 1)[1]
        if not urlsplit(plain).path.rstrip("/"):
            plain = plain.rstrip("/") + "/v1/traces"
        super().__init__(plain, secret, capacity, **options)
        self.name = "otlp+" + self.name

    def make(self, item: Item, received: float) -> list[dict[str, Any]]:
        if not isinstance(item, InvocationRecord) or item.trace_id is None:
            return []
        found = _XRAY.match(item.trace_id)
        if found is None:
            return []
        start = int(item.start * 1e9)
        end = start + int(item.duration_ms * 1e6)
        attributes = [("faas.name", item.function), ("faas.version", item.version), ("faas.trigger", item.trigger),
                      ("faas.invocation_id", item.request_id), ("hearth.status", item.status)]
        if item.alias:
            attributes.append(("hearth.alias", item.alias))
        span: dict[str, Any] = {
            "traceId": found.group(1) + found.group(2), "spanId": found.group(3), "name": item.function,
            "kind": 2, "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
            "attributes": [{"key": key, "value": {"stringValue": value}} for key, value in attributes]
            + [{"key": "faas.coldstart", "value": {"boolValue": item.init_ms is not None}}],
            "status": {"code": 1} if item.status == "success" else {"code": 2, "message": item.error_type or
                                                                    item.status},
        }
        return [span]

    def encode(self, batch: list[bytes]) -> bytes:
        return (b'{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":'
                b'"hearth"}}]},"scopeSpans":[{"scope":{"name":"hearth"},"spans":[' + b",".join(batch) + b"]}]}]}")


_XRAY = re.compile(r"^Root=1-([0-9a-f]{8})-([0-9a-f]{24});Parent=([0-9a-f]{16})")


def open_drain(url: str, secret: str | None = None, capacity: int = BUFFER_LINES) -> Drain:
    """The drain a ``--log-drain`` URL names: ``http(s)://…``, ``file:///folder``, or ``otlp+http(s)://…`` (spans,
    ``OtlpDrain``); raises ``ConfigError``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("otlp+http", "otlp+https"):
        return OtlpDrain(url, secret, capacity)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigError(f"log drain {url!r}: a file drain is file:///absolute/folder")
        return FileDrain(Path(unquote(parts.path)), capacity)
    if scheme in _DEFAULT_PORTS:
        return HttpDrain(url, secret, capacity)
    raise ConfigError(f"log drain {url!r} is not an http(s) or file URL (e.g. https://logs.example.com/hearth, "
                      "file:///var/log/hearth)")
