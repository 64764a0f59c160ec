"""Entry points whose responses stream over the instance's channel (``entry/output.py``): the frames each adapter
sends when the worker has armed it, what stays buffered, and a client that leaves (``CANCEL``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import orjson
import pytest
from entry_events import event
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from flask import Flask, Response

from hearth.runtimes.python import protocol
from hearth.runtimes.python.entry.asgi import AsgiAdapter
from hearth.runtimes.python.entry.http_handler import HttpHandlerAdapter
from hearth.runtimes.python.entry.output import ClientDisconnected, Output, Writer
from hearth.runtimes.python.entry.wsgi import WsgiAdapter

CANCEL = protocol.frame(protocol.CANCEL, b"")
Frames = list[tuple[str, Any]]


@pytest.fixture
def channel() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The worker's end and the platform's end of an instance channel."""
    worker, platform = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    platform.settimeout(5)
    yield worker, platform
    worker.close()
    platform.close()


def received(platform: socket.socket) -> Frames:
    """The frames waiting on the platform's end."""
    data = b""
    platform.setblocking(False)
    try:
        while True:
            data += platform.recv(1 << 20)
    except BlockingIOError:
        pass
    finally:
        platform.settimeout(5)
    return parse(data)


def parse(data: bytes) -> Frames:
    """Frames as ("head", {...}), ("chunk", bytes) and ("cancelled", b"")."""
    names = {protocol.HEAD: "head", protocol.CHUNK: "chunk", protocol.CANCELLED: "cancelled"}
    frames: Frames = []
    while data:
        length, kind = protocol.HEADER.unpack_from(data)
        body = data[protocol.HEADER.size:4 + length]
        frames.append((names[kind], orjson.loads(body) if kind == protocol.HEAD else body))
        data = data[4 + length:]
    return frames


def armed(output: Output, worker: socket.socket) -> Output:
    output.channel = worker
    output.armed = True
    return output


def serve(adapter: Any, worker: socket.socket, target: str = "/") -> Any:
    armed(adapter.output, worker)
    result = adapter(event(target=target), None)
    assert adapter.output.armed is False  # one invocation only
    return result


# -- the writer ------------------------------------------------------------------------------------------------


def test_a_writer_streams_from_the_first_piece_that_is_not_the_last(
        channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    writer = Writer(worker)
    writer.start(200, [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                       ("Transfer-Encoding", "chunked"), ("Connection", "keep-alive")])
    writer.write(b"")  # nothing to show yet
    assert received(platform) == []
    writer.write(b"one ")
    writer.write(b"two", last=True)
    assert writer.response() is None
    assert received(platform) == [
        ("head", {"status": 200, "headers": [["content-type", "text/plain"], ["set-cookie", "a=1"],
                                             ["set-cookie", "b=2"]]}),
        ("chunk", b"one "), ("chunk", b"two")]


@pytest.mark.parametrize("status, headers, pieces", [
    (200, [("Content-Type", "text/plain")], [(b"all of it", True)]),  # the first piece is the last
    (200, [("Content-Length", "5")], [(b"hello", False)]),  # as long as its Content-Length
    (204, [], [(b"", False)]),
    (304, [("ETag", '"x"')], [(b"", True)]),
])
def test_a_response_whole_by_its_first_piece_stays_buffered(
        channel: tuple[socket.socket, socket.socket], status: int, headers: list[tuple[str, str]],
        pieces: list[tuple[bytes, bool]]) -> None:
    worker, platform = channel
    writer = Writer(worker)
    writer.start(status, headers)
    for data, last in pieces:
        writer.write(data, last)
    response = writer.response()
    assert response is not None and response["statusCode"] == status
    assert response["body"] == b"".join(data for data, _ in pieces).decode()
    assert received(platform) == []


def test_an_unarmed_writer_buffers_everything() -> None:
    writer = Output().open()
    writer.start(200, [])
    writer.write(b"one ")
    writer.write(b"two ")
    writer.write(b"three", last=True)
    assert writer.response() == {"statusCode": 200, "headers": {}, "body": "one two three", "isBase64Encoded": False}


def test_big_pieces_go_in_chunks_of_at_most_1_mib(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    data = bytes(range(256)) * (4096 * 2 + 10)  # 2 MiB and a bit: more than the socket holds, so read meanwhile
    everything: list[bytes] = []

    def read_all() -> None:
        while piece := platform.recv(1 << 20):
            everything.append(piece)

    reader = threading.Thread(target=read_all)
    reader.start()
    writer = Writer(worker)
    writer.start(200, [])
    writer.write(data)
    worker.shutdown(socket.SHUT_WR)
    reader.join(10)
    chunks = [body for kind, body in parse(b"".join(everything)) if kind == "chunk"]
    assert [len(chunk) for chunk in chunks] == [protocol.MAX_CHUNK, protocol.MAX_CHUNK, 2560]
    assert b"".join(chunks) == data


def test_a_cancel_makes_every_later_write_raise(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    writer = Writer(worker)
    writer.start(200, [])
    writer.write(b"one")
    platform.sendall(CANCEL)
    with pytest.raises(ClientDisconnected):
        writer.write(b"two")
    with pytest.raises(BrokenPipeError):  # what a closed socket raises, so apps handle it as one
        writer.write(b"three")
    assert writer.cancelled and writer.poll_cancel()
    assert [kind for kind, _ in received(platform)] == ["head", "chunk", "cancelled"]


# -- WSGI ------------------------------------------------------------------------------------------------------


def flask_app(on_piece: Callable[[int], None] = lambda number: None, closed: list[bool] | None = None) -> Flask:
    app = Flask("hearth_test_streaming")

    @app.route("/")
    def pieces() -> Response:
        def body() -> Iterator[str]:
            try:
                for number in range(3):
                    on_piece(number)
                    yield f"piece {number}\n"
            finally:
                if closed is not None:
                    closed.append(True)
        return Response(body(), mimetype="text/event-stream")

    @app.route("/whole")
    def whole() -> dict[str, str]:
        return {"whole": "yes"}

    return app


def test_a_flask_generator_streams_piece_by_piece(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    seen: list[Frames] = []
    adapter = WsgiAdapter(flask_app(lambda number: seen.append(received(platform))))
    assert serve(adapter, worker) is None
    assert seen[0] == []  # before the first piece nothing has gone
    assert seen[1] == [("head", {"status": 200, "headers": [["content-type", "text/event-stream; charset=utf-8"]]}),
                       ("chunk", b"piece 0\n")]  # the first piece went before the second was made
    assert seen[2] == [("chunk", b"piece 1\n")]
    assert received(platform) == [("chunk", b"piece 2\n")]


def test_a_whole_flask_response_is_buffered_even_when_armed(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    response = serve(WsgiAdapter(flask_app()), worker, "/whole")
    assert response["statusCode"] == 200 and response["body"] == '{"whole":"yes"}\n'
    assert received(platform) == []


def test_a_wsgi_list_body_is_buffered(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"one ", b"two"]

    assert serve(WsgiAdapter(app), worker)["body"] == "one two"
    assert received(platform) == []


def test_a_wsgi_client_that_leaves_closes_the_iterable(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    closed: list[bool] = []

    def on_piece(number: int) -> None:
        if number == 2:
            platform.sendall(CANCEL)

    adapter = WsgiAdapter(flask_app(on_piece, closed))
    assert serve(adapter, worker) is None  # not an error
    assert closed == [True]
    assert [kind for kind, _ in received(platform)] == ["head", "chunk", "chunk", "cancelled"]


def test_a_wsgi_status_that_is_not_a_code_is_refused_before_anything_streams(
        channel: tuple[socket.socket, socket.socket]) -> None:
    from hearth import errors

    worker, platform = channel

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("OK", [])
        yield b"data"

    with pytest.raises(errors.MalformedProxyResponse):
        serve(WsgiAdapter(app), worker)
    assert received(platform) == []


# -- ASGI ------------------------------------------------------------------------------------------------------


def fastapi_app(on_piece: Callable[[int], None], finished: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def pieces() -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            try:
                for number in range(3):
                    on_piece(number)
                    yield f"piece {number}\n"
            finally:
                finished.append("body")
        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/sleepy")
    async def sleepy() -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            try:
                yield "first\n"
                on_piece(0)
                await asyncio.sleep(30)
                yield "never\n"
            finally:
                finished.append("sleepy")
        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/whole")
    async def whole() -> dict[str, str]:
        return {"whole": "yes"}

    return app


def test_a_fastapi_streaming_response_streams_message_by_message(
        channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    seen: list[Frames] = []
    finished: list[str] = []
    adapter = AsgiAdapter(fastapi_app(lambda number: seen.append(received(platform)), finished))
    try:
        assert serve(adapter, worker) is None
        assert seen[1] == [("head", {"status": 200, "headers": [["content-type", "text/plain; charset=utf-8"]]}),
                           ("chunk", b"piece 0\n")]
        assert seen[2] == [("chunk", b"piece 1\n")]
        assert received(platform) == [("chunk", b"piece 2\n")]
        whole = serve(adapter, worker, "/whole")
        assert whole["body"] == '{"whole":"yes"}' and received(platform) == []
    finally:
        adapter.close()


def test_an_asgi_app_hears_the_client_leave_while_it_waits(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    finished: list[str] = []
    adapter = AsgiAdapter(fastapi_app(lambda number: platform.sendall(CANCEL), finished))
    try:
        started = time.monotonic()
        assert serve(adapter, worker, "/sleepy") is None
        assert time.monotonic() - started < 5  # not the 30 s sleep: the disconnect listener cancelled it
        assert finished == ["sleepy"]
        assert [kind for kind, _ in received(platform)] == ["head", "chunk", "cancelled"]
    finally:
        adapter.close()


def test_an_asgi_app_that_ends_mid_stream_is_an_error(channel: tuple[socket.socket, socket.socket]) -> None:
    from hearth import errors

    worker, platform = channel

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})

    adapter = AsgiAdapter(app)
    try:
        with pytest.raises(errors.MalformedProxyResponse):
            serve(adapter, worker)
        assert [kind for kind, _ in received(platform)] == ["head", "chunk"]
    finally:
        adapter.close()


# -- BaseHTTPRequestHandler -------------------------------------------------------------------------------------


class flushing(BaseHTTPRequestHandler):  # noqa: N801  # Vercel's docs name the class ``handler``
    seen: list[Frames] = []
    platform: socket.socket

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Set-Cookie", "a=1")
        self.end_headers()
        self.wfile.write(b"first\n")
        self.wfile.flush()
        self.seen.append(received(self.platform))
        self.wfile.write(b"second\n")
        if self.path == "/leave":
            self.platform.sendall(CANCEL)
            self.wfile.flush()
            self.seen.append([("unreachable", b"")])


def test_a_handler_that_flushes_streams(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    flushing.platform, flushing.seen = platform, []
    assert serve(HttpHandlerAdapter(flushing), worker) is None
    assert flushing.seen == [[("head", {"status": 200, "headers": [
        ["server", flushing.seen[0][0][1]["headers"][0][1]], ["date", flushing.seen[0][0][1]["headers"][1][1]],
        ["content-type", "text/plain"], ["set-cookie", "a=1"]]}), ("chunk", b"first\n")]]
    assert received(platform) == [("chunk", b"second\n")]


def test_a_handler_that_never_flushes_goes_back_whole(channel: tuple[socket.socket, socket.socket]) -> None:
    from test_entry_http_handler import hello

    worker, platform = channel
    response = serve(HttpHandlerAdapter(hello), worker)  # http.server's own flush after do_GET does not stream
    assert response["body"] == "Hello, world!" and received(platform) == []


def test_a_handler_whose_client_left_gets_a_broken_pipe(channel: tuple[socket.socket, socket.socket]) -> None:
    worker, platform = channel
    flushing.platform, flushing.seen = platform, []
    assert serve(HttpHandlerAdapter(flushing), worker, "/leave") is None
    assert [[kind for kind, _ in frames] for frames in flushing.seen] == [["head", "chunk"]]  # then it raised
    assert received(platform) == [("cancelled", b"")]
