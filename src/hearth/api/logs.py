"""``GET /hearth/logs``: the log store's entries, once or followed.

Query parameters: ``function``, ``request_id``, ``since`` and ``until`` (``10m``, epoch seconds or ISO 8601),
``status``, ``filter`` (a substring of a line), ``limit`` (the newest that many, default 100), ``format``
(``json``: a JSON array of entries; ``lambda-json``: Lambda's JSON log events, one per line; ``text``: the
console's lines, prefixed with ``[function]`` when no function is given) and ``follow=1``.

With ``follow=1`` the answer is a chunked stream: the backlog (the newest ``limit`` entries matching, ``since``
included), then each new entry as it is stored, until the client disconnects or the platform stops. Every
``keepalive_s`` without news a keep-alive goes out (``{"type": "hearth.keepalive"}``, or an empty line in text) so
that proxies keep the connection; a follower that fell behind is told how many entries it lost
(``{"type": "hearth.lost", "count": N}``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.api.lambda_api import ApiRequest, ApiResponse
from hearth.telemetry.logformat import FORMATS, Entry, lambda_events, parse_moment, text_lines
from hearth.telemetry.logstore import Follower, matches

if TYPE_CHECKING:
    from hearth.platform import Platform

KEEPALIVE_S = 15.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
FLUSH_WAIT_S = 1.0  # a query first waits this long at most for records still queued for the writer
_NDJSON = (b"content-type", b"application/x-ndjson")
_CONTENT_TYPE = {"json": (b"content-type", b"application/json"), "lambda-json": _NDJSON,
                 "text": (b"content-type", b"text/plain; charset=utf-8")}


class LogsApi:
    """The ``/hearth/logs`` operation over the platform's log store."""

    def __init__(self, platform: Platform, clock: Callable[[], float] = time.time,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        self.platform = platform
        self.clock = clock
        self.keepalive_s = keepalive_s

    async def logs(self, request: ApiRequest) -> ApiResponse:
        query = request.query
        form = query.get("format") or "json"
        if form not in FORMATS:
            raise errors.InvalidParameterValue(f"format must be one of {', '.join(FORMATS)}, got {form!r}")
        try:
            limit = int(query.get("limit") or DEFAULT_LIMIT)
        except ValueError:
            raise errors.InvalidParameterValue("limit must be a whole number") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise errors.InvalidParameterValue(f"limit must be from 1 to {MAX_LIMIT}, got {limit}")
        now = self.clock()
        since = parse_moment(query["since"], now) if query.get("since") else None
        until = parse_moment(query["until"], now) if query.get("until") else None
        follow = query.get("follow", "") in ("1", "true", "yes")
        if follow and until is not None:
            raise errors.InvalidParameterValue("until and follow do not go together: a follow never ends")
        filters: dict[str, Any] = {"function": query.get("function") or None,
                                   "request_id": query.get("request_id") or None,
                                   "status": query.get("status") or None, "text": query.get("filter") or None,
                                   "since": since, "until": until}
        store = self.platform.logs
        prefix = filters["function"] is None
        if not follow:
            def read() -> list[Entry]:
                store.flush(FLUSH_WAIT_S)  # read your writes: a record of a call that just returned is included
                return store.query(**filters, limit=limit)

            entries = await asyncio.to_thread(read)
            if form == "json":
                return ApiResponse(200, orjson.dumps(entries), [_CONTENT_TYPE[form]])
            return ApiResponse(200, b"".join(_render(entry, form, prefix) for entry in entries), [_CONTENT_TYPE[form]])
        follower = store.follow()
        try:
            backlog = await asyncio.to_thread(store.query, **filters, limit=limit, upto=follower.after)
        except BaseException:
            follower.close()
            raise
        head = b"".join(_render(entry, form, prefix) for entry in backlog)
        content_type = _NDJSON if form == "json" else _CONTENT_TYPE[form]
        return ApiResponse(200, head, [content_type, (b"cache-control", b"no-cache")],
                           stream=self._follow(follower, filters, form, prefix))

    async def _follow(self, follower: Follower, filters: dict[str, Any], form: str,
                      prefix: bool) -> AsyncGenerator[bytes, None]:
        try:
            while not follower.closed:
                entries, lost = await follower.get(self.keepalive_s)
                chunks = []
                if lost:
                    chunks.append(_notice({"type": "hearth.lost", "count": lost}, form,
                                          f"[hearth] {lost} log entries lost: this follow fell behind"))
                chunks += [_render(entry, form, prefix) for entry in entries
                           if matches(entry, **filters)]
                if not chunks and not follower.closed:
                    chunks.append(_notice({"type": "hearth.keepalive"}, form, ""))
                if chunks:
                    yield b"".join(chunks)
        finally:
            follower.close()


def _render(entry: Entry, form: str, prefix: bool) -> bytes:
    """One entry in ``form``; json entries are one per line when streamed (NDJSON)."""
    if form == "json":
        return orjson.dumps(entry) + b"\n"
    if form == "lambda-json":
        return b"".join(orjson.dumps(event) + b"\n" for event in lambda_events(entry))
    lines = text_lines(entry, prefix)
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _notice(value: dict[str, Any], form: str, text: str) -> bytes:
    if form == "text":
        return (text + "\n").encode()
    return orjson.dumps(value) + b"\n"
