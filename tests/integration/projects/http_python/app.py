"""A small ASGI server for the ``http`` runtime tests (run by uvicorn, which Hearth starts as the function's
command): streaming, headers, slow answers, crashes, output, state and WebSockets."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any
from urllib.parse import parse_qs

COUNTER = {"value": 0}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await websocket(scope, receive, send)
        return
    if scope["type"] != "http":
        return
    path = "/" + scope["path"].rstrip("/").rsplit("/", 1)[-1]  # the gateway passes /fresh/counter as it is
    query = {key: values[-1] for key, values in parse_qs(scope["query_string"].decode()).items()}
    if path == "/echo":  # the request body back, piece by piece, as it arrives
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        while True:
            message = await receive()
            await send({"type": "http.response.body", "body": message.get("body", b""), "more_body": True})
            if not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/stream":  # n chunks of size bytes, without Content-Length
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for index in range(int(query.get("n", "3"))):
            await send({"type": "http.response.body", "body": str(index % 10).encode() * int(query.get("size", "5")),
                        "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 200
    headers = [(b"content-type", b"application/json")]
    if path == "/slow":
        await asyncio.sleep(float(query.get("s", "5")))
        value: Any = {"slept": float(query.get("s", "5"))}
    elif path == "/crash":
        print("about to crash", flush=True)
        os._exit(int(query.get("code", "3")))
    elif path == "/alloc":  # written to, so the pages are resident
        blob = b"x" * (int(query.get("mb", "1")) * 1024 * 1024)
        value = {"allocated": len(blob)}
    elif path == "/log":
        print(query.get("msg", "hello from the server"), flush=True)
        value = {"logged": True}
    elif path == "/counter":
        COUNTER["value"] += 1
        value = {"counter": COUNTER["value"], "pid": os.getpid()}
    elif path == "/status":
        status = int(query.get("code", "200"))
        headers += [(b"x-custom", b"kept"), (b"keep-alive", b"timeout=99"), (b"x-hop", b"dropped"),
                    (b"connection", b"x-hop")]
        value = {"status": status}
    else:  # /headers and everything else: what the server received
        value = {"method": scope["method"], "path": scope["path"], "raw_path": scope["raw_path"].decode(),
                 "query": scope["query_string"].decode(), "body": body.decode("latin-1"), "pid": os.getpid(),
                 "env": {key: os.environ.get(key) for key in ("PORT", "GREETING", "AWS_LAMBDA_FUNCTION_NAME")},
                 "headers": [[name.decode(), value.decode()] for name, value in scope["headers"]]}
    data = json.dumps(value).encode()
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echo: text stays text, bytes stay bytes; ``close:CODE`` closes with CODE; records the client's close."""
    await receive()  # websocket.connect
    if scope["path"] == "/ws/refused":  # refuse the upgrade with a status, a header and a body
        await send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"no token")]})
        await send({"type": "websocket.http.response.body", "body": b"no entry"})
        return
    offered = scope.get("subprotocols") or []
    await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            print(f"client closed with {message.get('code')}", flush=True)
            return
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            await send({"type": "websocket.close", "code": int(text.split(":")[1]), "reason": "asked to"})
            return
        if text == "host":
            headers = dict((k.decode(), v.decode()) for k, v in scope["headers"])
            await send({"type": "websocket.send", "text": json.dumps(headers)})
        elif text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes")})


if __name__ == "__main__":
    sys.exit("run me with uvicorn: python -m uvicorn app:app --port PORT")
