"""Log drains: the lines' shape, batching, retries with stable ids, the bounded buffer, file rotation, and the HTTP
drain's request (NDJSON, HMAC signature, status handling) against a receiver on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest

from hearth.errors import ConfigError
from hearth.model import InvocationRecord
from hearth.telemetry.drains import (
    BATCH_LINES,
    SIGNATURE_HEADER,
    Drain,
    FileDrain,
    HttpDrain,
    OtlpDrain,
    Outcome,
    drain_lines,
    open_drain,
)
from hearth.telemetry.records import InstanceOutput

T0 = 1_700_000_000.0
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def record(rid: str, status: str = "success", lines: tuple[str, ...] = ("hello",),
           init: tuple[str, ...] = (), trace_id: str | None = None) -> InvocationRecord:
    return InvocationRecord(request_id=rid, function="hello", version="$LATEST", trigger="http", start=T0,
                            duration_ms=2.0, billed_ms=2, memory_mb=128, max_memory_mb=9,
                            init_ms=5.0 if init else None, status=status,
                            error_type="ValueError" if status == "error" else None, log_lines=lines,
                            init_log_lines=init, trace_id=trace_id)


class FakeDrain(Drain):
    """Answers each batch with the next scripted outcome (then SENT) and keeps every body it was given."""

    def __init__(self, capacity: int = 10_000, outcomes: tuple[Outcome, ...] = ()) -> None:
        super().__init__("fake", capacity, clock=lambda: T0)
        self.outcomes = list(outcomes)
        self.bodies: list[bytes] = []

    async def _deliver(self, body: bytes, count: int) -> Outcome:
        self.bodies.append(body)
        return self.outcomes.pop(0) if self.outcomes else Outcome.SENT


def parse(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\n")
    return [orjson.loads(line) for line in body.splitlines()]


def pump_all(drain: Drain) -> list[Outcome | None]:
    async def go() -> list[Outcome | None]:
        drain.absorb()
        outcomes = []
        while (outcome := await drain.pump()) is not None:
            outcomes.append(outcome)
            if outcome is Outcome.RETRY and len(outcomes) > 10:
                break
        return outcomes
    return asyncio.run(go())


def test_lines_of_an_invocation() -> None:
    failed = record("r1", status="error", lines=("working", "[ERROR] ValueError: boom"), init=("init line",),
                    trace_id=TRACE)
    lines = drain_lines(failed, T0)
    assert [(line["source"], line["level"], line["message"].split(" ")[0]) for line in lines] == [
        ("lambda", "info", "init"), ("platform", "info", "START"), ("lambda", "info", "working"),
        ("lambda", "error", "[ERROR]"), ("platform", "info", "END"), ("platform", "error", "REPORT")]
    first = lines[0]
    assert first == {"requestId": "r1", "function": "hello", "version": "$LATEST", "traceId":
                     "1-5759e988-bd862e3fe1be46a994272793", "timestamp": int(T0 * 1000), "level": "info",
                     "message": "init line", "source": "lambda"}
    assert lines[-1]["timestamp"] == int(T0 * 1000) + 2  # the end: start + duration
    ok = drain_lines(record("r2", lines=("[ERROR] only logged",)), T0)
    assert {line["level"] for line in ok} == {"info"}  # a successful invocation has no error lines
    assert "traceId" not in ok[0]
    assert drain_lines(record("r3", status="throttled"), T0) == []


def test_lines_of_an_instances_own_output() -> None:
    lines = drain_lines(InstanceOutput("web", "$LATEST", 3, ("listening", "GET /")), T0 + 1.5)
    assert lines == [{"timestamp": int(T0 * 1000) + 1500, "function": "web", "version": "$LATEST", "level": "info",
                      "message": message, "source": "lambda"} for message in ("listening", "GET /")]


def test_batches_are_ndjson_with_unique_ids() -> None:
    drain = FakeDrain()
    for index in range(300):  # 4 lines each (START, one line, END, REPORT): 1,200 lines
        drain(record(f"r{index}"))
    assert pump_all(drain) == [Outcome.SENT, Outcome.SENT]
    batches = [parse(body) for body in drain.bodies]
    assert [len(batch) for batch in batches] == [BATCH_LINES, 200]
    ids = [line["id"] for batch in batches for line in batch]
    assert len(set(ids)) == 1200
    assert batches[0][0]["message"] == "START RequestId: r0 Version: $LATEST"  # oldest first
    assert drain.sent == 1200 and not any(drain.dropped.values())


def test_a_retried_batch_keeps_its_ids() -> None:
    drain = FakeDrain(outcomes=(Outcome.RETRY, Outcome.RETRY))
    drain(record("r1"))
    assert pump_all(drain) == [Outcome.RETRY, Outcome.RETRY, Outcome.SENT]
    assert drain.bodies[0] == drain.bodies[1] == drain.bodies[2]
    assert drain.sent == 4


def test_a_refused_batch_is_dropped_and_counted() -> None:
    drain = FakeDrain(outcomes=(Outcome.DROPPED,))
    drain(record("r1"))
    drain(record("r2"))
    assert pump_all(drain) == [Outcome.DROPPED]
    assert drain.dropped["rejected"] == 8 and drain.sent == 0


def test_overflow_drops_the_oldest_lines_and_counts_them() -> None:
    drain = FakeDrain(capacity=6)
    for index in range(3):
        drain(record(f"r{index}"))  # 12 lines for 6 places
    drain.absorb()
    assert drain.dropped["overflow"] == 6
    pump_all(drain)
    messages = [line["message"] for line in parse(drain.bodies[0])]
    assert messages[0] == "END RequestId: r1"  # the newest six lines are kept
    assert messages[-1].startswith("REPORT RequestId: r2")


def test_records_waiting_past_the_bound_drop_the_oldest() -> None:
    drain = FakeDrain(capacity=2)
    for index in range(5):  # not turned into lines yet: the queue itself is bounded
        drain(record(f"r{index}"))
    assert drain.dropped["overflow"] == 3 * 4
    assert drain.waiting == 8


def test_close_delivers_what_waits() -> None:
    drain = FakeDrain()

    async def go() -> None:
        drain.start()
        drain(record("r1"))
        await drain.close(timeout_s=5)
    asyncio.run(go())
    assert drain.sent == 4 and drain.dropped["shutdown"] == 0


def test_close_counts_what_it_could_not_deliver() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    drain = HttpDrain(f"http://127.0.0.1:{port}/", None)

    async def go() -> None:
        drain.start()
        drain(record("r1"))
        await drain.close(timeout_s=0.3)
    asyncio.run(go())
    assert drain.sent == 0 and drain.dropped["shutdown"] == 4


def test_file_drain_rotates_and_keeps_the_newest(tmp_path: Path) -> None:
    clock = iter(range(10**6))
    drain = FileDrain(tmp_path / "drain", file_bytes=600, keep=2)
    drain.clock = lambda: T0 + next(clock)
    for index in range(12):
        drain(record(f"r{index}"))
        pump_all(drain)
    drain._release()
    files = drain.files()
    assert len(files) == 2
    lines = [orjson.loads(line) for path in files for line in path.read_bytes().splitlines()]
    assert lines[-1]["message"].startswith("REPORT RequestId: r11")
    assert all(path.stat().st_size <= 600 or len(path.read_bytes().splitlines()) == 4 for path in files)
    assert drain.sent == 48


def test_file_drain_counts_unwritable_lines(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    drain = FileDrain(tmp_path / "taken")
    drain(record("r1"))
    assert pump_all(drain) == [Outcome.DROPPED]
    assert drain.dropped["unwritable"] == 4


def test_open_drain_by_url(tmp_path: Path) -> None:
    assert isinstance(open_drain(f"file://{tmp_path}"), FileDrain)
    http = open_drain("https://user:pw@logs.example.com:8443/in?x=1", "s")
    assert isinstance(http, HttpDrain) and http.name == "https://logs.example.com:8443/in"  # no credentials
    assert (http.host, http.port, http.target) == ("logs.example.com", 8443, "/in?x=1")
    for bad in ("ftp://example.com/", "file://host/folder", "https:///nohost"):
        with pytest.raises(ConfigError):
            open_drain(bad)


class Receiver:
    """An HTTP/1.1 endpoint on loopback answering each request with the next scripted status."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.closed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.exchange(reader, writer)
        except asyncio.IncompleteReadError:  # the drain closed its connection
            pass
        finally:
            writer.close()
            self.closed.set()

    async def exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *fields = head.decode("latin-1").split("\r\n")[:-2]
            headers = {name.lower(): value.strip() for name, value in (f.split(":", 1) for f in fields)}
            body = await reader.readexactly(int(headers["content-length"]))
            self.requests.append((request_line, headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok".encode())
            await writer.drain()


def test_http_drain_posts_signed_ndjson_and_retries() -> None:
    receiver = Receiver([])
    async def go() -> list[Outcome | None]:
        nonlocal receiver
        receiver = Receiver([503, 429, 200, 400])
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        drain = HttpDrain(f"http://127.0.0.1:{port}/in?k=v", "s3cret")
        drain(record("r1"))
        drain.absorb()
        outcomes = [await drain.pump() for _ in range(3)]
        drain(record("r2"))
        drain.absorb()
        outcomes.append(await drain.pump())
        assert drain.sent == 4 and drain.dropped["rejected"] == 4
        drain._release()
        await asyncio.wait_for(receiver.closed.wait(), 5)
        server.close()
        await server.wait_closed()
        return outcomes

    assert asyncio.run(go()) == [Outcome.RETRY, Outcome.RETRY, Outcome.SENT, Outcome.DROPPED]
    line, headers, body = receiver.requests[0]
    assert line == "POST /in?k=v HTTP/1.1"
    assert headers["content-type"] == "application/x-ndjson"
    assert headers[SIGNATURE_HEADER] == hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert [request[2] for request in receiver.requests[:3]] == [body] * 3  # the same batch, the same ids
    assert [line["requestId"] for line in parse(body)] == ["r1"] * 4


def test_an_otlp_drain_makes_one_span_per_traced_invocation() -> None:
    drain = open_drain("otlp+http://127.0.0.1:4318")
    assert isinstance(drain, OtlpDrain) and drain.target == "/v1/traces" and drain.name.startswith("otlp+http://")
    traced = InvocationRecord(request_id="r-1", function="hello", version="$LATEST", trigger="http", start=1000.5,
                              duration_ms=2.5, billed_ms=3, memory_mb=128, max_memory_mb=9, init_ms=1.0,
                              status="error", error_type="ValueError",
                              trace_id="Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1",
                              alias="live")
    [span] = drain.make(traced, 0.0)
    assert drain.make(traced._replace(trace_id=None), 0.0) == []
    body = orjson.loads(drain.encode([orjson.dumps(span)]))
    [sent] = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert (sent["traceId"], sent["spanId"], sent["name"], sent["kind"]) == (
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "hello", 2)
    assert (sent["startTimeUnixNano"], sent["endTimeUnixNano"]) == ("1000500000000", "1000502500000")
    assert sent["status"] == {"code": 2, "message": "ValueError"}
    attributes = {item["key"]: item["value"] for item in sent["attributes"]}
    assert attributes["faas.invocation_id"] == {"stringValue": "r-1"} and attributes["faas.coldstart"] == {
        "boolValue": True} and attributes["hearth.alias"] == {"stringValue": "live"}
