"""``GET /hearth/schedules`` and ``POST /hearth/schedules/{name}/pause`` (or ``/resume``): the platform's schedules
with their next tick, and their pause (kept in the event store, so a redeploy keeps it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hearth.api.lambda_api import ApiRequest, ApiResponse, ok
from hearth.triggers.scheduler import Planned

if TYPE_CHECKING:
    from hearth.platform import Platform


def schedule_json(planned: Planned) -> dict[str, Any]:
    spec, state = planned.spec, planned.state
    last = None if state.last_tick is None else datetime.fromtimestamp(state.last_tick, UTC)
    return {"name": spec.name, "project": spec.site, "target": spec.target, "expression": spec.expression,
            "timezone": spec.timezone, "missed": spec.missed, "enabled": spec.enabled, "paused": state.paused,
            "function_disabled": planned.held,
            "next": None if planned.next_tick is None else _iso(planned.next_tick),
            "last": None if last is None else _iso(last)}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class SchedulesApi:
    """The native schedule operations."""

    def __init__(self, platform: Platform) -> None:
        self.scheduler = platform.scheduler

    async def list_schedules(self, request: ApiRequest) -> ApiResponse:
        planned = sorted(await self.scheduler.plan(), key=lambda item: item.spec.name)
        return ok({"schedules": [schedule_json(item) for item in planned]})

    async def pause(self, request: ApiRequest) -> ApiResponse:
        return await self._set(request, True)

    async def resume(self, request: ApiRequest) -> ApiResponse:
        return await self._set(request, False)

    async def _set(self, request: ApiRequest, paused: bool) -> ApiResponse:
        name = request.params["name"]
        await self.scheduler.pause(name, paused)
        [planned] = [item for item in await self.scheduler.plan() if item.spec.name == name]
        return ok(schedule_json(planned))
