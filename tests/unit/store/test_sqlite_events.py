"""The SQLite event store: what is sent is kept until deleted, claims hide messages for a lease, stale receipts
change nothing, claims of a dead process come back, and concurrent calls share commits."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hearth.errors import ConfigError
from hearth.store.events import STALE_S, NewMessage, QueueStats
from hearth.store.sqlite_events import SqliteEvents


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SqliteEvents:
    return SqliteEvents(tmp_path / "events.db", clock=clock)


def run(store: SqliteEvents, body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` on a fresh event loop, then close ``store`` there."""
    async def main() -> None:
        try:
            await body()
        finally:
            await store.close()

    asyncio.run(main())


def message(id: str, queue: str = "q", body: bytes = b"{}", delay_s: float = 0.0) -> NewMessage:
    return NewMessage(id, queue, body, b'{"m":1}', delay_s)


def test_messages_are_claimed_oldest_first_and_hidden_for_the_lease(store: SqliteEvents, clock: Clock) -> None:
    async def body() -> None:
        await store.send([message("a", body=b"1")])
        clock.now += 1
        await store.send([message("b", body=b"2"), message("other", queue="elsewhere")])
        first = await store.claim("q", 10, lease_s=30)
        assert [(m.id, m.body, m.meta, m.receive_count) for m in first] == [("a", b"1", b'{"m":1}', 1),
                                                                          ("b", b"2", b'{"m":1}', 1)]
        assert await store.claim("q", 10, lease_s=30) == []  # hidden
        clock.now += 31
        again = await store.claim("q", 1, lease_s=30)
        assert [(m.id, m.receive_count) for m in again] == [("a", 2)]
        assert not await store.delete(first[0])  # the first claim's receipt is stale now
        assert await store.delete(again[0])
        assert await store.count("q") == 1 and await store.count("elsewhere") == 1

    run(store, body)


def test_delayed_and_released_messages_wait_their_turn(store: SqliteEvents, clock: Clock) -> None:
    async def body() -> None:
        await store.send([message("later", delay_s=10)])
        assert await store.claim("q", 10, 30) == []
        assert await store.next_visible("q") == clock.now + 10
        clock.now += 10
        [claimed] = await store.claim("q", 10, 30)
        assert await store.release(claimed, 5.0, counted=False)
        assert not await store.release(claimed, 0.0)  # released: the receipt is spent
        clock.now += 5
        [again] = await store.claim("q", 10, 30)
        assert again.receive_count == 1  # the uncounted claim was taken back
        assert await store.next_visible("empty") is None

    run(store, body)


def test_an_id_is_stored_once_and_delete_sends_what_follows_atomically(store: SqliteEvents) -> None:
    async def body() -> None:
        await store.send([message("x", body=b"first")])
        await store.send([message("x", body=b"second")])  # a retried send: no duplicate
        [claimed] = await store.claim("q", 10, 30)
        assert claimed.body == b"first"
        assert await store.delete(claimed, [message("next", queue="dest")])
        assert await store.count("dest") == 1
        assert not await store.delete(claimed, [message("dup", queue="dest")])  # stale: nothing sent either
        assert await store.count("dest") == 1

    run(store, body)


def test_what_was_sent_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    async def body() -> None:
        first = SqliteEvents(tmp_path / "events.db", clock=clock)
        await first.send([message(f"m{i}") for i in range(100)])
        await first.close()
        second = SqliteEvents(tmp_path / "events.db", clock=clock)
        try:
            assert await second.count("q") == 100
        finally:
            await second.close()

    asyncio.run(body())


def test_claims_of_a_dead_process_are_released_by_recover(tmp_path: Path, clock: Clock) -> None:
    async def body() -> None:
        path = tmp_path / "events.db"
        script = (
            "import asyncio, os, sys\n"
            "from pathlib import Path\n"
            "from hearth.store.sqlite_events import SqliteEvents\n"
            "async def main():\n"
            "    store = SqliteEvents(Path(sys.argv[1]), clock=lambda: 1_000_000.0)\n"
            "    print(len(await store.claim('q', 10, 900)), flush=True)\n"
            "    os._exit(0)\n"  # dies holding its claims, as SIGKILL would leave them
            "asyncio.run(main())\n"
        )
        store = SqliteEvents(path, clock=clock)
        try:
            await store.send([message("held"), message("also")])
            done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
            assert done.stdout.strip() == "2", done.stderr
            assert await store.claim("q", 10, 30) == []  # held by the dead process
            assert await store.recover() == 2
            assert sorted(m.id for m in await store.claim("q", 10, 30)) == ["also", "held"]
        finally:
            await store.close()

    asyncio.run(body())


def test_claims_of_a_silent_claimer_are_released_after_the_stale_time(tmp_path: Path, clock: Clock) -> None:
    async def body() -> None:
        path = tmp_path / "events.db"
        other = SqliteEvents(path, clock=clock)  # alive (this process), but it will stop beating
        store = SqliteEvents(path, clock=clock)
        try:
            await other.send([message("m")])
            assert len(await other.claim("q", 10, 900)) == 1
            assert await store.recover() == 0  # its heartbeat is fresh
            clock.now += STALE_S + 1
            assert await store.recover() == 1
            [claimed] = await store.claim("q", 10, 30)
            assert claimed.receive_count == 2
        finally:
            await store.close()
            await other.close()

    asyncio.run(body())


def test_concurrent_sends_share_commits_and_a_failing_one_fails_alone(store: SqliteEvents) -> None:
    async def body() -> None:
        await store.send([message("warm-up")])  # starts the writer thread
        before = store.commits
        results = await asyncio.gather(*(store.send([message(f"m{i}")]) for i in range(500)),
                                       store.send([NewMessage("bad", "q", None, b"")]),  # type: ignore[arg-type]
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(failures) == 1 and isinstance(failures[0], sqlite3.IntegrityError)  # NOT NULL body
        assert await store.count("q") == 501
        assert store.commits - before <= 50  # group commits: hundreds of sends per transaction, not one each

    run(store, body)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        SqliteEvents(path)
    assert os.path.exists(path)


def test_a_message_received_too_often_moves_to_the_dead_letter_queue_on_the_next_claim(
        store: SqliteEvents, clock: Clock) -> None:
    async def body() -> None:
        await store.send([message("poison", body=b"p")])
        sent_at = clock.now
        dead = ("dlq", 2)
        for receive in (1, 2):
            [claimed] = await store.claim("q", 10, 5, dead_letter=dead)
            assert claimed.receive_count == receive
            clock.now += 6
        await store.send([message("fine")])
        assert [m.id for m in await store.claim("q", 10, 5, dead_letter=dead)] == ["fine"]  # poison moved
        assert await store.count("q") == 1
        [moved] = await store.claim("dlq", 10, 5)
        assert (moved.id, moved.body, moved.meta, moved.receive_count) == ("poison", b"p", b'{"m":1}', 1)
        assert moved.sent_at == sent_at  # retention counts from the original send, as SQS's does

    run(store, body)


def test_without_a_dead_letter_queue_claims_go_on_counting(store: SqliteEvents, clock: Clock) -> None:
    async def body() -> None:
        await store.send([message("m")])
        for receive in range(1, 5):
            [claimed] = await store.claim("q", 10, 1)
            assert claimed.receive_count == receive
            clock.now += 2
        assert await store.count("dlq") == 0

    run(store, body)


def test_the_first_receive_time_is_kept_across_claims(store: SqliteEvents, clock: Clock) -> None:
    async def body() -> None:
        await store.send([message("m")])
        first = clock.now + 3
        clock.now = first
        [claimed] = await store.claim("q", 1, 1)
        clock.now += 5
        [again] = await store.claim("q", 1, 1)
        assert claimed.first_received_at == again.first_received_at == first

    run(store, body)


def test_change_visibility_moves_the_lease_and_a_stale_receipt_changes_nothing(
        store: SqliteEvents, clock: Clock) -> None:
    async def body() -> None:
        await store.send([message("m")])
        [claimed] = await store.claim("q", 1, 30)
        assert await store.change_visibility(claimed, 0)
        [again] = await store.claim("q", 1, 30)  # visible at once
        assert not await store.change_visibility(claimed, 0)  # the first receipt is stale now
        assert await store.claim("q", 1, 30) == []
        assert await store.change_visibility(again, 100)
        clock.now += 99
        assert await store.claim("q", 1, 30) == []
        clock.now += 1
        assert len(await store.claim("q", 1, 30)) == 1

    run(store, body)


def test_stats_count_visible_in_flight_and_delayed_and_purge_empties_one_queue(
        store: SqliteEvents, clock: Clock) -> None:
    async def body() -> None:
        await store.send([message("a"), message("b"), message("c"), message("later", delay_s=60),
                          message("x", queue="other")])
        await store.claim("q", 1, 30)
        assert await store.stats("q") == QueueStats(visible=2, in_flight=1, delayed=1, oldest_sent_at=clock.now)
        assert await store.stats("empty") == QueueStats(0, 0, 0, None)
        assert await store.purge("q") == 4
        assert await store.stats("q") == QueueStats(0, 0, 0)
        assert await store.count("other") == 1

    run(store, body)


def test_expire_drops_old_messages_of_one_queue_in_bounded_passes(store: SqliteEvents, clock: Clock) -> None:
    async def body() -> None:
        await store.send([message(f"old{i}") for i in range(5)] + [message("elsewhere", queue="other")])
        await store.send([NewMessage("async-old", "@async", b"{}")])
        await store.claim("q", 1, 30)  # claimed messages expire too
        clock.now += 100
        await store.send([message("new")])
        cutoff = clock.now - 50
        assert await store.expire("q", cutoff, limit=3) == 3
        assert await store.expire("q", cutoff, limit=3) == 2
        assert await store.expire("q", cutoff, limit=3) == 0
        assert [m.id for m in await store.claim("q", 10, 30)] == ["new"]
        assert await store.count("other") == 1
        assert await store.expire("@async", cutoff) == 0  # Hearth's own queues have no retention
        assert await store.count("@async") == 1

    run(store, body)


def test_a_version_1_file_gains_the_first_receive_column(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "events.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE messages (queue TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, "
                 "meta BLOB NOT NULL, sent_at REAL NOT NULL, visible_at REAL NOT NULL, "
                 "receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT, owner TEXT, PRIMARY KEY (queue, id)) "
                 "WITHOUT ROWID")
    conn.execute("INSERT INTO messages VALUES ('q', 'kept', x'7b7d', x'', 1.0, 1.0, 0, NULL, NULL)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    async def body() -> None:
        store = SqliteEvents(path, clock=clock)
        try:
            [claimed] = await store.claim("q", 1, 30)
            assert (claimed.id, claimed.first_received_at) == ("kept", clock.now)
        finally:
            await store.close()

    asyncio.run(body())
