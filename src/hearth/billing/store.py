"""The meter's file: usage per function version and hour, in its own SQLite database beside the state store.

One row per (function, version, hour) that saw an invocation or held provisioned concurrency, with integer
counters only (requests, errors, cold starts, billed ms, billed ms × MB, duration and Init in µs, provisioned
instance-ms and instance-ms × MB) and the latest invocation's start. A flush adds a batch of tallies to the rows in
one transaction (an upsert per tally), so a row is the sum of every flush that touched it and a crash between two
flushes loses only the tallies not yet written.

Why a file of its own (``meter.db``) rather than a table in ``state.db``: the state store's connection belongs to
the event loop and holds the control plane, written rarely and read whole at start; the meter writes every few
seconds from a worker thread and only ever grows, and its reports read months of rows. Apart, neither waits on the
other's lock, and the meter keeps its own retention (``RETENTION_DAYS``), independent of the log store's 7 days.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from hearth.errors import ConfigError, ServiceError

HOUR_S = 3600
RETENTION_DAYS = 400  # rows older than this are deleted (a year and a month of reports)
BUSY_TIMEOUT_S = 5.0
SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS usage (
        function TEXT NOT NULL,
        version TEXT NOT NULL,
        hour INTEGER NOT NULL,  -- epoch seconds of the hour's start (UTC)
        requests INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        cold_starts INTEGER NOT NULL DEFAULT 0,
        billed_ms INTEGER NOT NULL DEFAULT 0,
        billed_mb_ms INTEGER NOT NULL DEFAULT 0,
        duration_us INTEGER NOT NULL DEFAULT 0,
        init_us INTEGER NOT NULL DEFAULT 0,
        provisioned_ms INTEGER NOT NULL DEFAULT 0,
        provisioned_mb_ms INTEGER NOT NULL DEFAULT 0,
        last_start REAL,  -- the latest invocation's start (epoch seconds); NULL: none, only provisioned time
        PRIMARY KEY (function, version, hour)
    )""",
    "CREATE INDEX IF NOT EXISTS usage_hour ON usage (hour)",
)
_COUNTERS = ("requests", "errors", "cold_starts", "billed_ms", "billed_mb_ms", "duration_us", "init_us",
             "provisioned_ms", "provisioned_mb_ms")
_UPSERT = (
    f"INSERT INTO usage (function, version, hour, {', '.join(_COUNTERS)}, last_start) "
    f"VALUES ({', '.join('?' * (len(_COUNTERS) + 4))}) ON CONFLICT (function, version, hour) DO UPDATE SET "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in _COUNTERS)
    + ", last_start = CASE WHEN excluded.last_start IS NULL THEN last_start WHEN last_start IS NULL "
      "THEN excluded.last_start ELSE max(last_start, excluded.last_start) END"
)


class Usage(NamedTuple):
    """What one function version used in one hour (or, added up, in any span): integers, so sums are exact."""

    function: str
    version: str
    hour: int  # epoch seconds of the hour's start
    requests: int = 0
    errors: int = 0
    cold_starts: int = 0
    billed_ms: int = 0
    billed_mb_ms: int = 0  # billed ms × memory MB: GB-seconds × 1 024 000
    duration_us: int = 0
    init_us: int = 0
    provisioned_ms: int = 0  # provisioned instances held × ms
    provisioned_mb_ms: int = 0  # … × memory MB
    last_start: float | None = None


class MeterStore:
    """The meter's SQLite file; safe to call from any one thread at a time (calls are serialised by a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"{path}: cannot open the meter's database ({exc}); check that the data folder "
                              "is writable") from exc
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._conn.close()
            raise ConfigError(f"{path}: cannot use the meter's database ({exc}); move it away to start a new "
                              "one (its usage history goes with it)") from exc
        self.started = self._started()

    def _prepare(self) -> None:
        conn = self._conn
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema version {found} is newer than this Hearth reads ({SCHEMA_VERSION})")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # a commit survives the process; fsync at checkpoints
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            # When metering began: functions older than the meter count as invoked then (billing/idle.py).
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('started', ?)", (repr(time.time()),))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _started(self) -> float:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'started'").fetchone()
        return float(row[0])

    def add(self, batch: Sequence[Usage], *, expire_before: float | None = None) -> None:
        """Add ``batch`` to the stored rows in one transaction (all or nothing); with ``expire_before``, also
        delete rows of hours before it. Raises ``ServiceError`` when the file cannot be written."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(_UPSERT, batch)  # a Usage is the row, in column order
                    if expire_before is not None:
                        self._conn.execute("DELETE FROM usage WHERE hour < ?", (int(expire_before),))
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise ServiceError(f"meter ({self.path}): cannot store usage: {exc}") from exc

    def usage(self, since: float, until: float, function: str | None = None) -> list[Usage]:
        """The rows of the hours that start in [hour of ``since``, ``until``), by function, version and hour."""
        sql = (f"SELECT function, version, hour, {', '.join(_COUNTERS)}, last_start FROM usage "
               "WHERE hour >= ? AND hour < ?")
        params: list[object] = [int(since // HOUR_S) * HOUR_S, until]
        if function is not None:
            sql += " AND function = ?"
            params.append(function)
        with self._lock:
            try:
                rows = self._conn.execute(sql + " ORDER BY function, version, hour", params).fetchall()
            except sqlite3.Error as exc:
                raise ServiceError(f"meter ({self.path}): cannot read usage: {exc}") from exc
        return [Usage(*row) for row in rows]

    def last_invoked(self) -> dict[str, float]:
        """Each metered function's latest invocation start."""
        with self._lock:
            try:
                rows = self._conn.execute("SELECT function, max(last_start) FROM usage "
                                          "WHERE last_start IS NOT NULL GROUP BY function").fetchall()
            except sqlite3.Error as exc:
                raise ServiceError(f"meter ({self.path}): cannot read usage: {exc}") from exc
        return {function: float(last) for function, last in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
