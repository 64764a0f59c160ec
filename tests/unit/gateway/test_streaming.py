"""``StreamedResponse``: a function's streamed response turned into ASGI messages, with flow control, cut-offs
and a client that leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from hearth.asgi import Headers, Message
from hearth.gateway.streaming import HIGH_WATER, StreamedResponse


class Flow:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    def cancel(self) -> None:
        self.calls.append("cancel")


class Client:
    """The HTTP server's side: ``send`` records messages (and can be held, a slow client); ``receive`` says
    ``http.disconnect`` once the test lets the client leave."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.open = asyncio.Event()
        self.open.set()
        self.left = asyncio.Event()

    async def send(self, message: Message) -> None:
        await self.open.wait()
        self.sent.append(message)

    async def receive(self) -> Message:
        await self.left.wait()
        return {"type": "http.disconnect"}

    def bodies(self) -> list[tuple[bytes, bool]]:
        return [(message["body"], message["more_body"]) for message in self.sent
                if message["type"] == "http.response.body"]


def finish(headers: Headers) -> Headers:
    return [*headers, (b"x-amzn-requestid", b"req-1")]


def run(test: Callable[[StreamedResponse, Client, Flow], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        client = Client()
        await test(StreamedResponse(client.send, client.receive, finish), client, Flow())
    asyncio.run(main())


async def turns(count: int = 10) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def test_each_piece_goes_as_it_arrives_and_the_end_completes_the_body() -> None:
    async def test(response: StreamedResponse, client: Client, flow: Flow) -> None:
        assert not response.started
        response.start(200, [(b"content-type", b"text/event-stream")], flow)
        assert response.started
        await turns()
        assert client.sent == [{"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"x-amzn-requestid", b"req-1")]}]
        response.write(b"data: 1\n\n")
        await turns()
        response.write(b"data: 2\n\n")
        await turns()
        response.end(True)
        await asyncio.wait_for(response.closed(), 5)
        assert client.bodies() == [(b"data: 1\n\n", True), (b"data: 2\n\n", True), (b"", False)]
    run(test)


def test_a_response_over_before_the_pump_runs_goes_in_one_message() -> None:
    async def test(response: StreamedResponse, client: Client, flow: Flow) -> None:
        response.start(200, [], flow)
        response.write(b"one ")
        response.write(b"two")
        response.end(True)
        await asyncio.wait_for(response.closed(), 5)
        assert client.bodies() == [(b"one two", False)]  # the HTTP server gives it a Content-Length
    run(test)


def test_a_cut_off_response_never_sends_its_last_body_message() -> None:
    async def test(response: StreamedResponse, client: Client, flow: Flow) -> None:
        response.start(200, [], flow)
        await turns()
        response.write(b"partial")
        response.end(False)
        await asyncio.wait_for(response.closed(), 5)
        assert client.bodies() == [(b"partial", True)]
        assert flow.calls == []
    run(test)


def test_a_slow_client_pauses_the_instance_until_the_bytes_have_gone() -> None:
    async def test(response: StreamedResponse, client: Client, flow: Flow) -> None:
        client.open.clear()
        response.start(200, [], flow)
        response.write(b"x" * HIGH_WATER)
        assert flow.calls == []
        response.write(b"y")
        assert flow.calls == ["pause"]
        response.write(b"z")
        assert flow.calls == ["pause"]
        client.open.set()
        await turns()
        assert flow.calls == ["pause", "resume"]
        response.end(True)
        await asyncio.wait_for(response.closed(), 5)
        assert b"".join(body for body, _ in client.bodies()) == b"x" * HIGH_WATER + b"yz"
    run(test)


def test_a_client_that_leaves_cancels_the_stream_and_its_output_is_dropped() -> None:
    async def test(response: StreamedResponse, client: Client, flow: Flow) -> None:
        response.start(200, [], flow)
        response.write(b"one")
        await turns()
        client.left.set()
        await turns()
        assert flow.calls == ["cancel"]
        response.write(b"two")
        response.end(True)
        await asyncio.wait_for(response.closed(), 5)
        assert client.bodies() == [(b"one", True)]
    run(test)


def test_a_client_that_leaves_after_the_end_cancels_nothing() -> None:
    async def test(response: StreamedResponse, client: Client, flow: Flow) -> None:
        response.start(200, [], flow)
        response.end(True)
        client.left.set()
        await asyncio.wait_for(response.closed(), 5)
        assert flow.calls == [] and client.bodies() == [(b"", False)]
    run(test)
