import os
import time

from _lib.signal import mark, seen
from flask import Flask, Response, request, stream_with_context

app = Flask(__name__)


@app.route("/api/wsgi/handshake")
def handshake():
    signal = request.args["signal"]

    @stream_with_context
    def body():
        yield f"first {request.path}\n"
        yield "second\n" if seen(signal) else "no signal\n"  # only a client that got the first piece signals

    return Response(body(), mimetype="text/plain")


@app.route("/api/wsgi/events")
def events():
    def body():
        for number in range(3):
            yield f"id: {number}\ndata: event {number}\n\n"

    return Response(body(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@app.route("/api/wsgi/small")
def small():
    return {"pid": os.getpid()}


@app.route("/api/wsgi/forever")
def forever():
    closed = request.args["closed"]

    def body():
        try:
            for number in range(100_000):  # the client leaves long before; the timeout bounds it anyway
                yield f"tick {number}\n"
                time.sleep(0.01)
        finally:
            mark(closed, str(os.getpid()))

    return Response(body(), mimetype="text/plain")


@app.route("/api/wsgi/fail")
def fail():
    early = request.args.get("early") == "1"

    def body():
        if not early:
            yield "first\n"
        raise RuntimeError("broken mid-stream")

    return Response(body(), mimetype="text/plain")


@app.route("/api/wsgi/crash")
def crash():
    def body():
        yield "first\n"
        os._exit(3)

    return Response(body(), mimetype="text/plain")


@app.route("/api/wsgi/big")
def big():
    size = int(request.args["mib"]) * 1024 * 1024
    piece = b"x" * 65536

    def body():
        for _ in range(size // len(piece)):
            yield piece

    return Response(body(), mimetype="application/octet-stream")
