import asyncio
import os

from _lib.signal import STEP_S, WAIT_S, mark
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

app = FastAPI()


@app.get("/api/asgi/handshake")
async def handshake(signal: str):
    async def body():
        yield "first\n"
        for _ in range(int(WAIT_S / STEP_S)):
            if os.path.exists(signal):
                yield "second\n"
                return
            await asyncio.sleep(STEP_S)
        yield "no signal\n"

    return StreamingResponse(body(), media_type="text/plain")


@app.get("/api/asgi/events")
async def events():
    async def body():
        for number in range(3):
            yield f"data: event {number}\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


@app.get("/api/asgi/small")
async def small():
    return {"pid": os.getpid()}


@app.get("/api/asgi/forever")
async def forever(closed: str):
    async def body():
        try:
            for number in range(10):  # a tick every 10 s: only hearing the disconnect at once ends it soon
                yield f"tick {number}\n"
                await asyncio.sleep(10)
        finally:
            mark(closed, str(os.getpid()))

    return StreamingResponse(body(), media_type="text/plain")
