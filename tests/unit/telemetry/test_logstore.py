"""The log store: durable segments, rolling, retention, dropping under pressure, queries and follows."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from hearth.model import InvocationRecord
from hearth.telemetry.logstore import LogStore
from hearth.telemetry.records import InstanceOutput

T0 = 1_700_000_000.0  # 22:13:20 UTC: a little under an hour before the hour changes
HOUR = 3600.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(rid: str, start: float = T0, function: str = "hello", status: str = "success",
           lines: tuple[str, ...] = ("hello from the handler",)) -> InvocationRecord:
    return InvocationRecord(request_id=rid, function=function, version="$LATEST", trigger="http", start=start,
                            duration_ms=2.0, billed_ms=2, memory_mb=128, max_memory_mb=9, init_ms=None,
                            status=status, error_type="Runtime.Error" if status == "error" else None,
                            log_lines=lines)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(tmp_path: Path, clock: Clock) -> Iterator[list[LogStore]]:
    """Stores a test opens, closed after it."""
    opened: list[LogStore] = []
    yield opened
    for store in opened:
        store.close()


def open_store(stores: list[LogStore], directory: Path, clock: Clock, **options: object) -> LogStore:
    store = LogStore(directory, clock=clock, **options)  # type: ignore[arg-type]
    store.start()
    stores.append(store)
    return store


def write(store: LogStore, *items: InvocationRecord | InstanceOutput) -> None:
    """Append ``items`` and wait until the writer has handled them (one batch)."""
    for item in items:
        store.append(item)
    assert store.flush(10)


def ids(entries: list[dict[str, object]]) -> list[object]:
    return [entry.get("request_id") for entry in entries]


def test_entries_survive_reopening(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)
    write(store, record("a"), record("b", lines=("line one", "line two")))
    store.close()
    again = open_store(stores, tmp_path / "logs", clock)
    entries = again.query()
    assert ids(entries) == ["a", "b"]
    assert [line["message"] for line in entries[1]["lines"]] == [
        "START RequestId: b Version: $LATEST", "line one", "line two", "END RequestId: b",
        "REPORT RequestId: b\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB"]


def test_line_times_are_the_start_for_start_and_the_end_for_the_rest(tmp_path: Path, clock: Clock,
                                                                      stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)
    write(store, record("a")._replace(init_ms=5.0, init_log_lines=("loading",)))
    times = [(line["message"].split(" ")[0], line["time"]) for line in store.query()[0]["lines"]]
    assert times == [("loading", T0), ("START", T0), ("hello", T0 + 0.002), ("END", T0 + 0.002),
                     ("REPORT", T0 + 0.002)]


def test_instance_output_is_stored_with_the_time_it_arrived(tmp_path: Path, clock: Clock,
                                                           stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)
    clock.now = T0 + 7
    write(store, InstanceOutput("web", "$LATEST", 3, ("GET / 200",)))
    (entry,) = store.query(function="web")
    assert entry["type"] == "output" and entry["time"] == T0 + 7
    assert entry["lines"] == [{"time": T0 + 7, "message": "GET / 200"}]


def test_segments_roll_by_size(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock, segment_bytes=300)
    for index in range(6):
        write(store, record(f"r{index}"))  # ~280 bytes each: one entry per segment
    assert len(store.segments()) == 6
    assert ids(store.query()) == [f"r{index}" for index in range(6)]


def test_segments_roll_when_the_hour_changes(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)
    write(store, record("a"))
    clock.now += 60
    write(store, record("b", start=clock.now))  # same hour: same segment
    clock.now += HOUR
    write(store, record("c", start=clock.now))
    assert [segment.start_ms for segment in store.segments()] == [int(T0 * 1000), int((T0 + 60 + HOUR) * 1000)]


def test_retention_by_age_deletes_whole_old_segments(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock, retention_s=86400.0)
    write(store, record("old"))
    clock.now += 2 * HOUR
    write(store, record("recent", start=clock.now))
    clock.now += 25 * HOUR  # "old"'s segment ended 25 h ago; "recent"'s ends now (when the next one opens)
    write(store, record("new", start=clock.now))
    store.close()  # the writer's housekeeping has run
    assert ids(store.query()) == ["recent", "new"]
    assert len(store.segments()) == 2


def test_retention_by_size_deletes_the_oldest_segments(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock, max_bytes=2000)  # segments of 500 bytes
    for index in range(12):
        write(store, record(f"r{index}"))
    store.close()
    total = sum(os.path.getsize(segment.path) for segment in store.segments())
    assert total <= 2000
    kept = ids(store.query(limit=1000))
    assert kept[-1] == "r11" and "r0" not in kept
    assert kept == [f"r{index}" for index in range(12 - len(kept), 12)]  # the newest, without a gap


def test_a_full_queue_drops_and_counts(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = LogStore(tmp_path / "logs", clock=clock, queue_capacity=3)  # the writer has not started: nothing drains
    stores.append(store)
    for index in range(5):
        store.append(record(f"r{index}"))
    assert store.dropped_full == 2 and store.dropped == 2
    store.start()
    assert store.flush(10)
    assert ids(store.query()) == ["r0", "r1", "r2"]


def test_a_folder_that_cannot_be_created_drops_and_counts(tmp_path: Path, clock: Clock,
                                                          stores: list[LogStore]) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the folder should be")
    store = open_store(stores, blocker, clock)
    write(store, record("a"), record("b"))
    assert store.dropped_unwritable == 2 and store.dropped == 2
    blocker.unlink()  # writable again: the next batch is stored
    write(store, record("c"))
    assert ids(store.query()) == ["c"]
    assert store.dropped == 2


def test_a_full_disk_drops_and_counts(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    store = open_store(stores, tmp_path / "logs", clock, opener=lambda path: open("/dev/full", "ab", buffering=0))
    write(store, record("a"))
    write(store, record("b"))
    assert store.dropped_unwritable == 2


def test_query_filters(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)
    write(store, record("a", function="one"), record("b", function="two", status="error", lines=("boom: \"x\"",)),
          record("c", function="one", status="timeout"), InstanceOutput("one", "$LATEST", 1, ("server line",)))
    assert ids(store.query(function="one")) == ["a", "c", None]
    assert ids(store.query(status="error")) == ["b"]
    assert ids(store.query(request_id="c")) == ["c"]
    assert ids(store.query(text='boom: "x"')) == ["b"]  # quotes are escaped in the file
    assert ids(store.query(text="server")) == [None]
    assert ids(store.query(limit=2)) == ["c", None]  # the newest, oldest first


def test_query_time_window_and_skipped_segments(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)
    write(store, record("first"))
    clock.now += 3 * HOUR
    write(store, record("second", start=clock.now))
    clock.now += 3 * HOUR
    write(store, record("third", start=clock.now))
    store.close()
    assert ids(store.query(since=T0 + HOUR, until=T0 + 4 * HOUR)) == ["second"]
    assert ids(store.query(since=T0 + 5 * HOUR)) == ["third"]
    # A segment the window cannot touch is not read: plant an entry inside the window in the first segment.
    first = store.segments()[0].path
    planted = orjson.loads(first.read_bytes().splitlines()[0])
    planted.update(request_id="planted", time=T0 + 6 * HOUR)
    with open(first, "ab") as file:
        file.write(orjson.dumps(planted) + b"\n")
    assert ids(store.query(since=T0 + 5 * HOUR)) == ["third"]
    assert "planted" in ids(store.query())  # without a window, every segment is read


def test_a_torn_last_line_is_skipped(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)
    write(store, record("a"))
    store.close()
    with open(store.segments()[0].path, "ab") as file:
        file.write(b'{"type": "invocation", "request_id": "tor')
    assert ids(store.query()) == ["a"]


def test_follow_gets_new_entries_and_the_backlog_query_the_rest_exactly_once(tmp_path: Path, clock: Clock,
                                                                            stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)
    write(store, record("before"))

    async def scenario() -> tuple[list[object], list[object], int]:
        follower = store.follow()
        await asyncio.to_thread(write, store, record("after"))
        backlog = await asyncio.to_thread(store.query, upto=follower.after)
        entries, lost = await follower.get(10)
        follower.close()
        return ids(backlog), ids(entries), lost

    assert asyncio.run(scenario()) == (["before"], ["after"], 0)


def test_a_slow_follower_loses_entries_and_is_told_how_many(tmp_path: Path, clock: Clock,
                                                            stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)

    async def scenario() -> tuple[list[object], int, list[object], int]:
        follower = store.follow(capacity=2)
        for index in range(5):
            await asyncio.to_thread(write, store, record(f"r{index}"))
        await asyncio.sleep(0)
        entries, lost = await follower.get(10)
        await asyncio.to_thread(write, store, record("r5"))
        later, lost_later = await follower.get(10)
        return ids(entries), lost, ids(later), lost_later

    assert asyncio.run(scenario()) == (["r0", "r1"], 3, ["r5"], 0)


def test_ending_follows_wakes_a_waiting_follower(tmp_path: Path, clock: Clock, stores: list[LogStore]) -> None:
    store = open_store(stores, tmp_path / "logs", clock)

    async def scenario() -> bool:
        follower = store.follow()
        waiting = asyncio.create_task(follower.get(60))
        await asyncio.sleep(0)
        store.end_follows()
        await asyncio.wait_for(waiting, 10)
        return follower.closed

    assert asyncio.run(scenario())
