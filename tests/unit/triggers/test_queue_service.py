"""The queue service: receives use the queue's redrive policy, long polls wake on sends and on messages becoming
visible, and the retention sweep drops old messages per queue."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from hearth.model import QueueSpec
from hearth.store.events import NewMessage
from hearth.store.sqlite_events import SqliteEvents
from hearth.triggers.queues import QueueService


class FakeCatalog:
    def __init__(self, *specs: QueueSpec) -> None:
        self.queues = {spec.name: spec for spec in specs}


def service(tmp_path: Path, *specs: QueueSpec, clock: Any = time.time) -> QueueService:
    return QueueService(FakeCatalog(*specs), SqliteEvents(tmp_path / "events.db", clock=clock),  # type: ignore[arg-type]
                        clock=clock)


def test_a_long_poll_wakes_on_a_send_and_on_a_delayed_message(tmp_path: Path) -> None:
    spec = QueueSpec("q")
    queues = service(tmp_path, spec)

    async def body() -> None:
        try:
            waiting = asyncio.create_task(queues.receive(spec, 10, 30, wait_s=20))
            while queues.waiting("q") == 0:
                await asyncio.sleep(0.001)  # until it reaches its wait
            started = time.monotonic()
            await queues.send("q", [NewMessage("m1", "q", b"hi")])
            [message] = await asyncio.wait_for(waiting, 5)
            assert message.id == "m1" and time.monotonic() - started < 2
            await queues.send("q", [NewMessage("m2", "q", b"later", delay_s=0.3)])
            started = time.monotonic()
            [delayed] = await queues.receive(spec, 10, 30, wait_s=10)
            assert delayed.id == "m2" and 0.2 < time.monotonic() - started < 5  # woke when it became visible
            assert queues.waiting("q") == 0
        finally:
            await queues.close()
            await queues.store.close()

    asyncio.run(body())


def test_receives_follow_the_redrive_policy_only_while_the_dead_letter_queue_exists(tmp_path: Path) -> None:
    source = QueueSpec("src", dead_letter_queue="dlq", max_receive_count=1)
    queues = service(tmp_path, source)  # "dlq" is not a queue (yet)

    async def body() -> None:
        try:
            assert queues.dead_letter(source) is None
            await queues.send("src", [NewMessage("m", "src", b"x")])
            await queues.receive(source, 1, 0, 0)
            assert len(await queues.receive(source, 1, 0, 0)) == 1  # received again: nowhere to move it
            queues.catalog.queues["dlq"] = QueueSpec("dlq")
            assert queues.dead_letter(source) == ("dlq", 1)
            assert await queues.receive(source, 1, 0, 0) == []
            assert await queues.store.count("dlq") == 1
        finally:
            await queues.close()
            await queues.store.close()

    asyncio.run(body())


def test_the_sweep_drops_messages_past_each_queues_retention(tmp_path: Path) -> None:
    now = [1_000_000.0]
    short, long = QueueSpec("short", message_retention_s=60), QueueSpec("long", message_retention_s=3600)
    queues = service(tmp_path, short, long, clock=lambda: now[0])

    async def body() -> None:
        try:
            await queues.send("short", [NewMessage("old", "short", b"x")])
            await queues.send("long", [NewMessage("old", "long", b"x")])
            now[0] += 61
            await queues.send("short", [NewMessage("new", "short", b"x")])
            assert await queues.sweep() == 1
            assert await queues.store.count("short") == 1 and await queues.store.count("long") == 1
        finally:
            await queues.close()
            await queues.store.close()

    asyncio.run(body())
