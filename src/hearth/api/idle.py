"""Idle and disabled functions (``billing/idle.py``):

    GET  /hearth/idle?days=30                  functions without invocations for that long, and disabled ones
    GET  /hearth/audit?function=&limit=100     the audit log, newest first
    POST /hearth/functions/{name}/disable      disable by hand (JSON body: optional {"reason": "…"})
    POST /hearth/functions/{name}/enable       enable: calls, schedules, queue pollers, provisioned instances
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.api.lambda_api import ApiRequest, ApiResponse, ok
from hearth.billing.idle import DAY_S, IdleFunction
from hearth.billing.prices import decimal_text
from hearth.model import AuditEntry

if TYPE_CHECKING:
    from hearth.platform import Platform

DEFAULT_DAYS = 30
MAX_AUDIT = 10_000


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {"time": _iso(entry.time), "function": entry.function, "action": entry.action, "reason": entry.reason}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IdleApi:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.monitor = platform.idle

    async def idle(self, request: ApiRequest) -> ApiResponse:
        try:
            days = float(request.query.get("days") or DEFAULT_DAYS)
        except ValueError:
            raise errors.InvalidParameterValue("days must be a number of days, e.g. 30") from None
        if not 0 < days <= 3650:
            raise errors.InvalidParameterValue(f"days must be from 0 to 3650, got {days:g}")
        now = self.monitor.clock()
        after = self.monitor.after_days
        found = await self.monitor.scan(days)
        return ok({"days": days, "auto_disable_after_days": after,
                   "functions": [self._json(item, now, after) for item in found]})

    def _json(self, item: IdleFunction, now: float, after: int | None) -> dict[str, Any]:
        idle_days = (now - item.idle_since) / DAY_S
        return {"function": item.function,
                "last_invoked": None if item.last_invoked is None else _iso(item.last_invoked),
                "idle_since": _iso(item.idle_since), "idle_days": round(idle_days, 2), "code_bytes": item.code_bytes,
                "provisioned": item.provisioned, "provisioned_cost_30d": decimal_text(item.provisioned_cost_30d),
                "keep_alive": item.keep_alive,
                "disabled": None if item.disabled is None else audit_json(item.disabled),
                "auto_disable": (after is not None and item.disabled is None and not item.keep_alive
                                 and idle_days >= after)}

    async def audit(self, request: ApiRequest) -> ApiResponse:
        try:
            limit = int(request.query.get("limit") or 100)
        except ValueError:
            raise errors.InvalidParameterValue("limit must be a whole number") from None
        if not 1 <= limit <= MAX_AUDIT:
            raise errors.InvalidParameterValue(f"limit must be from 1 to {MAX_AUDIT}, got {limit}")
        entries = self.platform.catalog.store.audit(request.query.get("function") or None, limit)
        return ok({"entries": [audit_json(entry) for entry in entries]})

    async def disable(self, request: ApiRequest) -> ApiResponse:
        name = request.params["name"]
        reason = "hearth disable"
        if request.body.strip():
            try:
                body = orjson.loads(request.body)
            except orjson.JSONDecodeError:
                raise errors.InvalidRequestContent("the body must be JSON: {\"reason\": \"…\"}") from None
            given = body.get("reason") if isinstance(body, dict) else None
            if not isinstance(given, str) or not 0 < len(given) <= 256:
                raise errors.InvalidParameterValue("reason must be a string of 1 to 256 characters")
            reason = given
        entry = self.monitor.disable(name, reason)
        return ok(self._state(name, entry))

    async def enable(self, request: ApiRequest) -> ApiResponse:
        name = request.params["name"]
        entry = self.monitor.enable(name)
        return ok(self._state(name, entry))

    def _state(self, name: str, changed: AuditEntry | None) -> dict[str, Any]:
        disabled = self.platform.catalog.disabled.get(name)
        return {"function": name, "disabled": None if disabled is None else audit_json(disabled),
                "changed": changed is not None}
