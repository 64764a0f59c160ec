"""The embedded event store (``events.py``): one SQLite file in WAL mode, written by one thread in group commits.

Every call becomes an operation on a queue to the writer thread, which takes all the operations waiting, runs
them in one transaction (each in its own savepoint, so one that fails fails alone), commits, and resolves their
futures on the event loop with one wake-up per batch. Under load a batch holds hundreds of operations, so the
cost of a commit is shared by them; an idle store commits each operation at once.

Durability: with ``synchronous = NORMAL`` (the default) a committed transaction survives the death of the
process (SIGKILL included), since it is in the WAL in the operating system's hands; ``durable=True`` asks for
``FULL`` (an fsync per commit), which also survives the loss of power.
"""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hearth.errors import ConfigError, ServiceError
from hearth.processes import alive
from hearth.store.events import HEARTBEAT_S, STALE_S, Message, NewMessage, QueueStats, ScheduleState

BUSY_TIMEOUT_S = 10.0
SCHEMA_VERSION = 2  # 2: messages.first_received_at, and the retention index of user queues
_T = TypeVar("_T")
_Operation = Callable[[sqlite3.Connection], Any]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS messages (
        queue TEXT NOT NULL,
        id TEXT NOT NULL,
        body BLOB NOT NULL,
        meta BLOB NOT NULL,
        sent_at REAL NOT NULL,
        visible_at REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT,
        owner TEXT,
        first_received_at REAL,
        PRIMARY KEY (queue, id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at)",
    "CREATE INDEX IF NOT EXISTS messages_owner ON messages (owner) WHERE owner IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS schedules (
        name TEXT PRIMARY KEY,
        last_tick REAL,
        paused INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS owners (
        token TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        heartbeat REAL NOT NULL
    )""",
)
# Retention (``expire``) looks messages up by age; only user queues have a retention, so Hearth's own ("@async")
# pay nothing for the index. A query uses it only when it repeats the index's condition word for word.
_USER_QUEUE = "substr(queue, 1, 1) != '@'"
_INDEXES = (f"CREATE INDEX IF NOT EXISTS messages_sent ON messages (queue, sent_at) WHERE {_USER_QUEUE}",)
_CLAIM = """UPDATE messages SET visible_at = ?, receive_count = receive_count + 1, receipt = ?, owner = ?,
                                first_received_at = coalesce(first_received_at, ?)
            WHERE queue = ? AND id IN (SELECT id FROM messages WHERE queue = ? AND visible_at <= ?
                                       ORDER BY visible_at LIMIT ?)
            RETURNING id, body, meta, sent_at, receive_count, first_received_at"""
MAX_DEAD_LETTER_MOVES = 1000  # per claim: the rest move on the next one
# Messages received too often: copied to the dead-letter queue (an id already there is not copied twice), then
# deleted here. Both statements pick the same rows: they run back to back in the writer's transaction.
_TOO_OFTEN = ("SELECT id FROM messages WHERE queue = ? AND visible_at <= ? AND receive_count >= ? "
              "ORDER BY visible_at LIMIT ?")
_DEAD_LETTER_COPY = (f"INSERT INTO messages (queue, id, body, meta, sent_at, visible_at) "
                     f"SELECT ?, id, body, meta, sent_at, ? FROM messages WHERE queue = ? AND id IN ({_TOO_OFTEN}) "
                     "ON CONFLICT DO NOTHING")
_DEAD_LETTER_DELETE = f"DELETE FROM messages WHERE queue = ? AND id IN ({_TOO_OFTEN})"


class SqliteEvents:
    """An ``EventStore`` in one SQLite file."""

    def __init__(self, path: Path, *, durable: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.location = path
        self.clock = clock
        self.token = uuid.uuid4().hex  # this store's claims carry it
        self._host = socket.gethostname()
        self._operations: queue.SimpleQueue[tuple[_Operation, asyncio.Future[Any]] | None] = queue.SimpleQueue()
        self._conn = self._open(durable)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed (for tests: operations share them under load)

    def _open(self, durable: bool) -> sqlite3.Connection:
        try:
            self.location.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.location, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"{self.location}: cannot open the event store ({exc}); check that the folder is "
                              "writable") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            found = conn.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise ConfigError(f"{self.location}: the event store has schema version {found}; this Hearth "
                                  f"reads up to {SCHEMA_VERSION}: run a newer Hearth")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
            if "first_received_at" not in columns:  # a version 1 file
                conn.execute("ALTER TABLE messages ADD COLUMN first_received_at REAL")
            for statement in _INDEXES:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("INSERT INTO owners (token, host, pid, heartbeat) VALUES (?, ?, ?, ?)",
                         (self.token, self._host, os.getpid(), self.clock()))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            raise ConfigError(f"{self.location}: cannot use the event store ({exc}); move the file away to start "
                              "empty (its events would be lost)") from exc
        return conn

    # -- the writer thread ---------------------------------------------------------------------------------------

    async def _run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._loop = loop
            self._thread = threading.Thread(target=self._write_forever, name="hearth-events", daemon=True)
            self._thread.start()
            self._heartbeat = loop.create_task(self._beat_forever())
        future: asyncio.Future[_T] = loop.create_future()
        self._operations.put((operation, future))
        return await future

    def _write_forever(self) -> None:
        conn = self._conn
        while True:
            first = self._operations.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    item = self._operations.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._operations.put(None)  # stop after this batch
                    break
                batch.append(item)
            outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                for operation, future in batch:
                    conn.execute("SAVEPOINT op")
                    try:
                        result = operation(conn)
                    except Exception as exc:  # noqa: BLE001 (handed to its caller)
                        conn.execute("ROLLBACK TO op")
                        outcomes.append((future, None, exc))
                    else:
                        outcomes.append((future, result, None))
                    conn.execute("RELEASE op")
                conn.execute("COMMIT")
                self.commits += 1
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.rollback()
                failure = ServiceError(f"event store ({self.location}): cannot commit: {exc}")
                outcomes = [(future, None, failure) for _, future in batch]
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_settle, outcomes)

    # -- operations --------------------------------------------------------------------------------------------

    async def send(self, messages: Sequence[NewMessage]) -> None:
        now = self.clock()
        rows = [(m.queue, m.id, m.body, m.meta, now, now + m.delay_s) for m in messages]

        def insert(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO messages (queue, id, body, meta, sent_at, visible_at) "
                             "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)

        await self._run(insert)

    async def claim(self, queue_name: str, limit: int, lease_s: float,
                    dead_letter: tuple[str, int] | None = None) -> list[Message]:
        receipt = uuid.uuid4().hex

        def claim(conn: sqlite3.Connection) -> list[Message]:
            now = self.clock()
            if dead_letter is not None:
                target, max_receives = dead_letter
                picked = (queue_name, now, max_receives, MAX_DEAD_LETTER_MOVES)
                conn.execute(_DEAD_LETTER_COPY, (target, now, queue_name, *picked))
                conn.execute(_DEAD_LETTER_DELETE, (queue_name, *picked))
            rows = conn.execute(_CLAIM, (now + lease_s, receipt, self.token, now, queue_name, queue_name, now,
                                         limit)).fetchall()
            rows.sort(key=lambda row: row[3])
            return [Message(id, queue_name, body, meta, sent_at, count, receipt, first)
                    for id, body, meta, sent_at, count, first in rows]

        return await self._run(claim)

    async def delete(self, message: Message, then_send: Sequence[NewMessage] = ()) -> bool:
        now = self.clock()
        rows = [(m.queue, m.id, m.body, m.meta, now, now + m.delay_s) for m in then_send]

        def delete(conn: sqlite3.Connection) -> bool:
            gone = conn.execute("DELETE FROM messages WHERE queue = ? AND id = ? AND receipt = ?",
                                (message.queue, message.id, message.receipt)).rowcount == 1
            if gone and rows:
                conn.executemany("INSERT INTO messages (queue, id, body, meta, sent_at, visible_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
            return gone

        return await self._run(delete)

    async def release(self, message: Message, delay_s: float, *, counted: bool = True) -> bool:
        def release(conn: sqlite3.Connection) -> bool:
            return conn.execute(
                "UPDATE messages SET visible_at = ?, receive_count = receive_count - ?, receipt = NULL, "
                "owner = NULL WHERE queue = ? AND id = ? AND receipt = ?",
                (self.clock() + delay_s, 0 if counted else 1, message.queue, message.id, message.receipt),
            ).rowcount == 1

        return await self._run(release)

    async def change_visibility(self, message: Message, timeout_s: float) -> bool:
        def change(conn: sqlite3.Connection) -> bool:
            return conn.execute("UPDATE messages SET visible_at = ? WHERE queue = ? AND id = ? AND receipt = ?",
                                (self.clock() + timeout_s, message.queue, message.id, message.receipt)).rowcount == 1

        return await self._run(change)

    async def purge(self, queue_name: str) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM messages WHERE queue = ?", (queue_name,)).rowcount

        return await self._run(purge)

    async def stats(self, queue_name: str) -> QueueStats:
        def stats(conn: sqlite3.Connection) -> QueueStats:
            now = self.clock()
            visible, in_flight, delayed, oldest = conn.execute(
                "SELECT count(*) FILTER (WHERE visible_at <= ?1), "
                "count(*) FILTER (WHERE visible_at > ?1 AND receipt IS NOT NULL), "
                "count(*) FILTER (WHERE visible_at > ?1 AND receipt IS NULL), min(sent_at) "
                "FROM messages WHERE queue = ?2", (now, queue_name)).fetchone()
            return QueueStats(visible, in_flight, delayed, oldest)

        return await self._run(stats)

    async def expire(self, queue_name: str, before: float, limit: int = 1000) -> int:
        def expire(conn: sqlite3.Connection) -> int:
            return conn.execute(
                f"DELETE FROM messages WHERE queue = ? AND id IN (SELECT id FROM messages INDEXED BY messages_sent "
                f"WHERE queue = ? AND {_USER_QUEUE} AND sent_at < ? LIMIT ?)",  # noqa: S608 (constants only)
                (queue_name, queue_name, before, limit)).rowcount

        return await self._run(expire)

    async def next_visible(self, queue_name: str) -> float | None:
        def first(conn: sqlite3.Connection) -> float | None:
            row = conn.execute("SELECT min(visible_at) FROM messages WHERE queue = ?", (queue_name,)).fetchone()
            return None if row is None else row[0]

        return await self._run(first)

    async def count(self, queue_name: str) -> int:
        def count(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM messages WHERE queue = ?", (queue_name,)).fetchone()[0])

        return await self._run(count)

    async def schedule_states(self) -> dict[str, ScheduleState]:
        def states(conn: sqlite3.Connection) -> dict[str, ScheduleState]:
            return {name: ScheduleState(last, bool(paused))
                    for name, last, paused in conn.execute("SELECT name, last_tick, paused FROM schedules")}

        return await self._run(states)

    async def advance(self, name: str, tick: float, messages: Sequence[NewMessage] = ()) -> bool:
        now = self.clock()
        rows = [(m.queue, m.id, m.body, m.meta, now, now + m.delay_s) for m in messages]

        def advance(conn: sqlite3.Connection) -> bool:
            won = conn.execute(
                "INSERT INTO schedules (name, last_tick) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                "SET last_tick = excluded.last_tick WHERE last_tick IS NULL OR last_tick < excluded.last_tick",
                (name, tick)).rowcount == 1
            if won and rows:
                conn.executemany("INSERT INTO messages (queue, id, body, meta, sent_at, visible_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
            return won

        return await self._run(advance)

    async def set_paused(self, name: str, paused: bool) -> None:
        def pause(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO schedules (name, paused) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                         "SET paused = excluded.paused", (name, int(paused)))

        await self._run(pause)

    async def forget_schedules(self, keep: Sequence[str]) -> None:
        names = list(keep)

        def forget(conn: sqlite3.Connection) -> None:
            marks = ", ".join("?" * len(names))
            conn.execute(f"DELETE FROM schedules WHERE name NOT IN ({marks})", names)  # noqa: S608 (only marks)

        await self._run(forget)

    async def recover(self) -> int:
        def recover(conn: sqlite3.Connection) -> int:
            now = self.clock()
            gone = [token for token, host, pid, heartbeat in conn.execute(
                        "SELECT token, host, pid, heartbeat FROM owners WHERE token != ?", (self.token,))
                    if heartbeat < now - STALE_S or (host == self._host and not alive(pid))]
            released = 0
            for token in gone:
                released += conn.execute("UPDATE messages SET visible_at = ?, receipt = NULL, owner = NULL "
                                         "WHERE owner = ?", (now, token)).rowcount
                conn.execute("DELETE FROM owners WHERE token = ?", (token,))
            return released

        return await self._run(recover)

    async def _beat_forever(self) -> None:
        def beat(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE owners SET heartbeat = ? WHERE token = ?", (self.clock(), self.token))

        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._run(beat)
            except ServiceError:
                pass  # the next beat tries again; claims stay ours until STALE_S passes

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self._thread is not None:
            self._operations.put(None)
            await asyncio.to_thread(self._thread.join)
        try:
            self._conn.execute("DELETE FROM owners WHERE token = ? AND NOT EXISTS "
                               "(SELECT 1 FROM messages WHERE owner = ?)", (self.token, self.token))
        except sqlite3.Error:
            pass  # a leftover owner row is swept by the next recover
        self._conn.close()


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if future.done():  # its caller was cancelled; the effect is stored all the same
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

