"""``PythonInstance`` relaying a streamed response (``HEAD``, ``CHUNK``…, then the result) to a ``ResponseStream``,
driven frame by frame through its channel protocol with a fake transport: the end of the stream, errors, the
size limit, the deadline, flow control, and a ``CANCEL`` that crosses the end of its stream."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson

from hearth.model import FunctionSpec
from hearth.pool.deadlines import DeadlineSweep
from hearth.pool.instance import InvokeOutcome, InvokeRequest, State
from hearth.pool.streaming import STREAMED_RESPONSE_LIMIT, Flow
from hearth.runtimes.logs import LogPipe
from hearth.runtimes.python import protocol
from hearth.runtimes.python.instance import PythonInstance

T = TypeVar("T")
SPEC = FunctionSpec(name="web", handler="api/index.py", code_dir=Path("/srv/web"))
HEAD = protocol.frame(protocol.HEAD, orjson.dumps({"status": 201, "headers": [["content-type", "text/plain"],
                                                                             ["set-cookie", "a=1"]]}))
RESULT = protocol.frame(protocol.RESULT, protocol.RESULT_HEAD.pack(12.5, 2048, 0) + b"null")
ERROR = protocol.frame(protocol.ERROR, protocol.RESULT_HEAD.pack(3.0, 2048, 0) + orjson.dumps(
    {"errorType": "RuntimeError", "errorMessage": "broken mid-stream", "stackTrace": []}))
CANCELLED = protocol.frame(protocol.CANCELLED, b"")


def chunk(data: bytes) -> bytes:
    return protocol.frame(protocol.CHUNK, data)


class Transport:
    """The platform's end of the channel, as the instance uses it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.reading = True
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def kinds(self) -> list[int]:
        return [protocol.HEADER.unpack_from(data)[1] for data in self.written]


class Stream:
    """A ``ResponseStream`` that records what it is told."""

    def __init__(self) -> None:
        self.started = False
        self.calls: list[tuple[Any, ...]] = []
        self.flow: Flow | None = None

    def start(self, status: int, headers: list[tuple[bytes, bytes]], flow: Flow) -> None:
        self.started = True
        self.flow = flow
        self.calls.append(("start", status, headers))

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def end(self, complete: bool) -> None:
        self.calls.append(("end", complete))


class Runtime:
    def __init__(self) -> None:
        self.deadlines = DeadlineSweep()


class Harness:
    """One warm instance (its Init skipped) on a fake channel, and a streamed invocation in flight."""

    def __init__(self, streams: bool = True) -> None:
        self.transport = Transport()
        self.instance = PythonInstance(Runtime(), SPEC, 1, 0, {})  # type: ignore[arg-type]
        self.instance.connection_made(self.transport)  # type: ignore[arg-type]
        read, self._write = os.pipe()
        self.instance._logs = LogPipe(read)
        self.instance.streams = streams
        self.instance.lifecycle.to(State.INITIALIZING)
        self.instance.lifecycle.to(State.IDLE)
        self.stream = Stream()
        self.call: asyncio.Task[InvokeOutcome] | None = None

    async def invoke(self, timeout_s: float = 30.0) -> None:
        request = InvokeRequest("req-1", {"rawPath": "/"}, stream=self.stream)  # type: ignore[arg-type]
        self.call = asyncio.get_running_loop().create_task(self.instance.invoke(request, timeout_s))
        for _ in range(100):  # until the INVOKE has gone out (a few loop turns)
            if self.transport.written:
                return
            await asyncio.sleep(0)
        raise AssertionError("no INVOKE was sent")

    def feed(self, *frames: bytes) -> None:
        self.instance.data_received(b"".join(frames))

    async def outcome(self) -> InvokeOutcome:
        assert self.call is not None
        return await asyncio.wait_for(self.call, 5)

    def close(self) -> None:
        assert self.instance._logs is not None
        self.instance._logs.close()
        os.close(self._write)


def run(test: Callable[[Harness], Coroutine[Any, Any, T]], streams: bool = True) -> T:
    async def main() -> T:
        harness = Harness(streams)
        try:
            return await test(harness)
        finally:
            harness.close()
    return asyncio.run(main())


def test_a_streamed_response_is_relayed_frame_by_frame_and_the_result_ends_it() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        assert h.transport.kinds() == [protocol.INVOKE_STREAM]
        h.feed(HEAD, chunk(b"one "))
        assert h.stream.calls == [("start", 201, [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1")]),
                                  ("write", b"one ")]
        h.feed(chunk(b"two"))
        assert h.stream.calls[-1] == ("write", b"two") and h.call is not None and not h.call.done()
        h.feed(RESULT)
        outcome = await h.outcome()
        assert h.stream.calls[-1] == ("end", True)
        assert (outcome.status, outcome.error, outcome.duration_ms, outcome.max_rss_kb) == ("success", None, 12.5, 2048)
        assert h.instance.state is State.IDLE
    run(test)


def test_an_instance_that_cannot_stream_gets_a_plain_invoke() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        assert h.transport.kinds() == [protocol.INVOKE]
        h.feed(protocol.frame(protocol.RESULT, protocol.RESULT_HEAD.pack(1.0, 1, 0) + b'{"ok":1}'))
        assert (await h.outcome()).payload == b'{"ok":1}'
        assert h.stream.calls == []
    run(test, streams=False)


def test_an_error_mid_stream_cuts_it_off_and_keeps_the_instance() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        h.feed(HEAD, chunk(b"one"), ERROR)
        outcome = await h.outcome()
        assert h.stream.calls[-1] == ("end", False)
        assert outcome.status == "error" and outcome.error is not None
        assert outcome.error.error_type == "RuntimeError"
        assert h.instance.state is State.IDLE
    run(test)


def test_the_deadline_cuts_a_stream_off_and_stops_the_instance() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        h.feed(HEAD, chunk(b"one"))
        h.instance.expire()  # what the deadline sweep does
        outcome = await h.outcome()
        assert h.stream.calls[-1] == ("end", False)
        assert outcome.status == "timeout" and outcome.error is not None
        assert outcome.error.error_type == "Sandbox.Timedout"
        assert h.instance.state is State.STOPPED and h.transport.closed
        h.feed(chunk(b"late"))
        assert h.stream.calls[-1] == ("end", False)
    run(test)


def test_a_stream_over_the_limit_is_cut_off() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        piece = b"x" * (STREAMED_RESPONSE_LIMIT // 2)
        h.feed(HEAD, chunk(piece), chunk(piece))
        assert [call[0] for call in h.stream.calls] == ["start", "write", "write"]
        h.feed(chunk(b"x"))
        outcome = await h.outcome()
        assert h.stream.calls[-1] == ("end", False)
        assert outcome.error is not None and outcome.error.error_type == "Function.ResponseSizeTooLarge"
        assert h.instance.state is State.STOPPED
    run(test)


def test_the_stream_pauses_and_resumes_the_channel() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        h.feed(HEAD)
        assert h.stream.flow is not None
        h.stream.flow.pause()
        assert not h.transport.reading
        h.stream.flow.resume()
        assert h.transport.reading
        h.feed(RESULT)
        await h.outcome()
    run(test)


def test_a_cancel_goes_once_and_the_worker_answers_before_its_result() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        h.feed(HEAD, chunk(b"one"))
        assert h.stream.flow is not None
        h.transport.pause_reading()
        h.stream.flow.cancel()
        h.stream.flow.cancel()
        assert h.transport.kinds() == [protocol.INVOKE_STREAM, protocol.CANCEL]
        assert h.transport.reading  # the rest of the app's output is taken (and dropped by the stream)
        h.feed(chunk(b"two"), CANCELLED, RESULT)
        assert (await h.outcome()).status == "success"
        assert h.instance.state is State.IDLE
    run(test)


def test_a_cancel_that_crosses_the_result_holds_the_invocation_until_it_is_answered() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        h.feed(HEAD, chunk(b"one"))
        assert h.stream.flow is not None
        h.stream.flow.cancel()
        h.feed(RESULT)  # the worker had finished: it reads the CANCEL between invocations
        assert h.stream.calls[-1] == ("end", True)
        for _ in range(10):
            await asyncio.sleep(0)
        assert h.call is not None and not h.call.done()  # no INVOKE may follow the CANCEL before the answer
        h.feed(CANCELLED)
        assert (await h.outcome()).status == "success"
        assert h.instance.state is State.IDLE
        h.stream.flow.cancel()  # the stream has ended: nothing more goes to the worker
        assert h.transport.kinds() == [protocol.INVOKE_STREAM, protocol.CANCEL]
    run(test)


def test_a_stream_frame_outside_a_stream_is_a_protocol_violation() -> None:
    async def test(h: Harness) -> None:
        await h.invoke()
        h.feed(chunk(b"before any head"))
        assert h.instance.state is State.STOPPED
        h.instance.connection_lost(None)
        assert (await h.outcome()).status in ("crash", "oom")
    run(test)
