"""``GET /hearth/stats?function=&since=&until=``: invocation statistics over a window of the log store
(``telemetry/stats.py``); ``since`` defaults to an hour back, ``until`` to now."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hearth import errors
from hearth.api.lambda_api import ApiRequest, ApiResponse, ok
from hearth.telemetry.logformat import parse_moment
from hearth.telemetry.stats import SLOTS, summarize

if TYPE_CHECKING:
    from hearth.platform import Platform

DEFAULT_WINDOW_S = 3600.0


class StatsApi:
    def __init__(self, platform: Platform, clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.clock = clock

    async def stats(self, request: ApiRequest) -> ApiResponse:
        now = self.clock()
        query = request.query
        since = parse_moment(query["since"], now) if query.get("since") else now - DEFAULT_WINDOW_S
        until = parse_moment(query["until"], now) if query.get("until") else now
        if since >= until:
            raise errors.InvalidParameterValue("since must be before until")
        store = self.platform.logs
        await asyncio.to_thread(store.flush, 1.0)  # what just ran counts too
        functions = await asyncio.to_thread(
            lambda: summarize(store.scan(since, until), since, until, query.get("function") or None))
        return ok({"since": since, "until": until, "slots": SLOTS, "functions": functions})
