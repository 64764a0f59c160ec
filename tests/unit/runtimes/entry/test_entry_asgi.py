"""ASGI apps (FastAPI, and raw ASGI 3 apps) served from API Gateway 2.0 events, on one loop per instance."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from entry_events import event, header, respond
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from hearth import errors
from hearth.runtimes.python.entry.asgi import AsgiAdapter, Message, Receive, Send


class Item(BaseModel):
    name: str
    price: float


def fastapi_app() -> FastAPI:
    startups = {"count": 0}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        startups["count"] += 1
        app.state.loop = asyncio.get_running_loop()
        yield {"greeting": "hi", "startups": startups}
        app.state.shut_down = True

    app = FastAPI(lifespan=lifespan)
    app.state.calls = 0

    @app.get("/")
    def read_root() -> dict[str, str]:
        return {"Python": "on Vercel"}

    @app.get("/api/{rest:path}")
    async def catch_all(rest: str, request: Request) -> dict[str, Any]:
        app.state.calls += 1
        return {"rest": rest, "greeting": request.state.greeting, "startups": request.state.startups["count"],
                "calls": app.state.calls, "same_loop": asyncio.get_running_loop() is app.state.loop,
                "query": dict(request.query_params), "url": str(request.url)}

    @app.post("/items", status_code=201)
    async def create(item: Item) -> dict[str, Any]:
        return {"name": item.name, "price": item.price}

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(status_code=404, detail="no such thing")

    @app.get("/cookies")
    def cookies(response: Response) -> str:
        response.set_cookie("session", "abc", httponly=True)
        response.set_cookie("theme", "dark")
        return "ok"

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for part in (b"one ", b"two ", b"three"):
                yield part
        return StreamingResponse(parts(), media_type="text/plain")

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("kaboom")

    return app


@pytest.fixture(scope="module")
def fastapi() -> Iterator[AsgiAdapter]:
    adapter = AsgiAdapter(fastapi_app())
    yield adapter
    adapter.close()


def test_fastapi_json(fastapi: AsgiAdapter) -> None:
    status, headers, body = respond(fastapi(event("GET", "/"), None))
    assert (status, json.loads(body)) == (200, {"Python": "on Vercel"})
    assert header(headers, "content-type") == ["application/json"]


def test_fastapi_catch_all_path_async_endpoint_and_startup_state_across_calls(fastapi: AsgiAdapter) -> None:
    first = json.loads(respond(fastapi(event("GET", "/api/users/a%20b/x?q=1"), None))[2])
    second = json.loads(respond(fastapi(event("GET", "/api/two"), None))[2])
    assert first["rest"] == "users/a b/x" and first["query"] == {"q": "1"}
    assert second["url"] == "http://example.com/api/two"  # scheme and host as a server gives them
    assert first["greeting"] == second["greeting"] == "hi"  # the lifespan's state, in every request
    assert first["startups"] == second["startups"] == 1  # startup ran once, at Init
    assert second["calls"] == first["calls"] + 1 and first["same_loop"] and second["same_loop"]


def test_fastapi_json_body(fastapi: AsgiAdapter) -> None:
    made = event("POST", "/items", [("host", "h"), ("content-type", "application/json")],
                 b'{"name": "tea", "price": 2.5}')
    status, _, body = respond(fastapi(made, None))
    assert (status, json.loads(body)) == (201, {"name": "tea", "price": 2.5})
    invalid = event("POST", "/items", [("host", "h"), ("content-type", "application/json")], b'{"name": 1}')
    assert respond(fastapi(invalid, None))[0] == 422


def test_fastapi_errors_and_cookies(fastapi: AsgiAdapter) -> None:
    status, _, body = respond(fastapi(event("GET", "/missing"), None))
    assert (status, body) == (404, b'{"detail":"no such thing"}')
    response = fastapi(event("GET", "/cookies"), None)
    assert response["cookies"] == ["session=abc; HttpOnly; Path=/; SameSite=lax", "theme=dark; Path=/; SameSite=lax"]


def test_a_streaming_response_is_buffered_when_the_invocation_may_not_stream(fastapi: AsgiAdapter) -> None:
    response = fastapi(event("GET", "/stream"), None)  # (Lambda's Invoke API; test_entry_streaming.py for the rest)
    assert response is not None and response["body"] == "one two three"


def test_an_exception_answered_with_500_is_logged_and_the_500_stands(
        fastapi: AsgiAdapter, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, body = respond(fastapi(event("GET", "/boom"), None))
    assert (status, body) == (500, b"Internal Server Error")
    assert "ValueError: kaboom" in capsys.readouterr().err


def test_close_runs_lifespan_shutdown() -> None:
    app = fastapi_app()
    adapter = AsgiAdapter(app)
    adapter(event(), None)
    adapter.close()
    assert app.state.shut_down is True and adapter.loop.is_closed()


def raw_app(seen: list[Message]) -> Any:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"  # no lifespan: the adapter takes the AssertionError as "unsupported"
        seen.append(scope)
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]})
        await send({"type": "http.response.body", "body": b"part one, ", "more_body": True})
        await send({"type": "http.response.body", "body": b"part two", "more_body": False})
        seen.append(await receive())
    return app


def test_a_raw_asgi_app_gets_a_servers_scope() -> None:
    seen: list[Message] = []
    adapter = AsgiAdapter(raw_app(seen))
    try:
        made = event("POST", "/caf%C3%A9/x?q=%C3%A9", [("host", "example.com:8443"), ("x-forwarded-proto", "https"),
                                                       ("content-type", "text/plain"), ("cookie", "c=3")], b"hello")
        response = adapter(made, "ctx")
    finally:
        adapter.close()
    assert response["body"] == "part one, part two" and response["cookies"] == ["a=1", "b=2"]
    scope, request, disconnect = seen
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"} and scope["http_version"] == "1.1"
    assert scope["method"] == "POST" and scope["scheme"] == "https"
    assert scope["path"] == "/caf\u00e9/x" and scope["raw_path"] == b"/caf%C3%A9/x"
    assert scope["query_string"] == b"q=%C3%A9" and scope["root_path"] == ""
    assert (b"cookie", b"c=3") in scope["headers"] and (b"content-length", b"5") in scope["headers"]
    assert scope["client"] == ("203.0.113.7", 0) and scope["server"] == ("example.com", 8443)
    assert scope["state"] == {} and scope["aws.event"] is made and scope["aws.context"] == "ctx"
    assert request == {"type": "http.request", "body": b"hello", "more_body": False}
    assert disconnect == {"type": "http.disconnect"}  # only once the response was complete


def test_lifespan_startup_failure_is_an_init_error() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(RuntimeError, match="ASGI lifespan startup failed: no database"):
        AsgiAdapter(app)


def test_a_response_that_never_starts_or_never_ends() -> None:
    async def silent(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        pass

    async def unfinished(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})

    for app, message in ((silent, "without sending 'http.response.start'"), (unfinished, "more_body was still")):
        adapter = AsgiAdapter(app)
        try:
            with pytest.raises(errors.MalformedProxyResponse, match=message):
                adapter(event(), None)
        finally:
            adapter.close()


def test_an_exception_before_the_response_is_the_invocations_error() -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise LookupError("nothing here")

    adapter = AsgiAdapter(app)
    try:
        with pytest.raises(LookupError, match="nothing here"):
            adapter(event(), None)
    finally:
        adapter.close()
