"""``GET /hearth/cost?since=30d&until=&by=function|version|day&function=``: what the metered usage of a window
costs (``billing/report.py``), by function, by function version or by UTC day. The window is whole hours: it
starts at the start of the hour ``since`` falls in. ``since`` defaults to 30 days back, ``until`` to now."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hearth import errors
from hearth.api.lambda_api import ApiRequest, ApiResponse, ok
from hearth.billing.report import GROUPINGS, cost_report
from hearth.billing.store import HOUR_S
from hearth.telemetry.logformat import parse_moment

if TYPE_CHECKING:
    from hearth.platform import Platform

DEFAULT_WINDOW = "30d"


class CostApi:
    def __init__(self, platform: Platform, clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.clock = clock

    async def cost(self, request: ApiRequest) -> ApiResponse:
        now = self.clock()
        query = request.query
        since = parse_moment(query.get("since") or DEFAULT_WINDOW, now)
        until = parse_moment(query["until"], now) if query.get("until") else now
        if since >= until:
            raise errors.InvalidParameterValue("since must be before until")
        by = query.get("by") or "function"
        if by not in GROUPINGS:
            raise errors.InvalidParameterValue(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
        function = query.get("function") or None
        since = float(int(since // HOUR_S) * HOUR_S)  # the meter keeps hours: the window starts at one's start
        usage = await self.platform.meter.usage(since, until, function)
        report = cost_report(usage, by, self.platform.prices)
        overrides = {name: self.platform.prices(name).as_json() for name in sorted(self.platform.catalog.functions)
                     if self.platform.catalog.functions[name].latest.price}
        return ok({"since": since, "until": until, "by": by, "currency": "USD",
                   "prices": self.platform.settings.prices.as_json(), "function_prices": overrides,
                   "lines": [line.as_json() for line in report.lines], "total": report.total.as_json()})
