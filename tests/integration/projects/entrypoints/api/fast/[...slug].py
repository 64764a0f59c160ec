import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

startups = []


@asynccontextmanager
async def lifespan(app):
    startups.append(os.getpid())
    yield {"started_in": os.getpid()}


app = FastAPI(lifespan=lifespan)
app.state.calls = 0


@app.post("/api/fast/items")
async def create(item: dict):
    return {"created": item}


@app.get("/api/fast/{slug:path}")
async def catch_all(slug: str, request: Request):
    app.state.calls += 1
    return {"slug": slug, "pid": os.getpid(), "startups": len(startups), "calls": app.state.calls,
            "started_in": request.state.started_in}
