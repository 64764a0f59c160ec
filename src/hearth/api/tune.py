"""``POST /hearth/tune/{name}``: power tuning, run by the platform (``billing/tuner.py``) and streamed as it goes.

The body is ``{"memory_mb": [128, 256, …], "payload": <the event>, "runs": 20, "parallel": false}``; ``?Qualifier=``
(or ``name:qualifier``) picks a version or alias ($LATEST by default). Everything is checked before anything runs:
an unknown function is ``ResourceNotFoundException`` (404); sizes outside 128–10240 MB, more than 20 sizes, runs
outside 1–1000 or an ``http`` function are ``InvalidParameterValueException`` (400).

The answer is NDJSON, one object per line: ``{"type": "start", …}``, then ``{"type": "progress", "memory_mb",
"done", "total"}`` after each invocation (``{"type": "keepalive"}`` every 15 s without one), and last
``{"type": "result", …}`` (``billing/tuning.report``) or ``{"type": "error", "errorType", "message"}``. A client
that disconnects stops the run: the tuner is cancelled and its temporary versions' instances are stopped.

One route rather than the CLI composing Lambda calls (UpdateFunctionConfiguration, PublishVersion, Invoke,
DeleteFunction): those would change ``$LATEST`` under live traffic for a while and use up version numbers for good,
and a client that dies half-way could not clean up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import orjson

from hearth import errors
from hearth.api import shapes
from hearth.api.lambda_api import ApiRequest, ApiResponse
from hearth.billing.prices import PriceTable
from hearth.billing.tuner import MAX_RUNS, MAX_SIZES, Tuner
from hearth.billing.tuning import SizeResult, report
from hearth.model import HTTP_RUNTIME, MEMORY_MB_RANGE, runtime_family

if TYPE_CHECKING:
    from hearth.platform import Platform

log = logging.getLogger("hearth.api")
KEEPALIVE_S = 15.0
DEFAULT_RUNS = 10
_NDJSON = (b"content-type", b"application/x-ndjson")


def memory_sizes(value: Any) -> list[int]:
    """The memory sizes to try, sorted and without repeats; ``InvalidParameterValue`` naming what is wrong."""
    low, high = MEMORY_MB_RANGE
    if not isinstance(value, list) or not value:
        raise errors.InvalidParameterValue(f"memory_mb must be a list of 1 to {MAX_SIZES} sizes, each in whole MB "
                                           f"from {low} to {high}, e.g. [128, 256, 512, 1024]")
    for size in value:
        if isinstance(size, bool) or not isinstance(size, int) or not low <= size <= high:
            raise errors.InvalidParameterValue(f"Memory size {size!r} is not valid: use whole MB from {low} to "
                                               f"{high}")
    sizes = sorted(set(value))
    if len(sizes) > MAX_SIZES:
        raise errors.InvalidParameterValue(f"At most {MAX_SIZES} memory sizes per run, got {len(sizes)}")
    return sizes


def runs_of(value: Any) -> int:
    """How many warm invocations per size (1 to 1000)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RUNS:
        raise errors.InvalidParameterValue(f"runs must be a whole number from 1 to {MAX_RUNS}, got {value!r}")
    return value


class TuneApi:
    """The ``/hearth/tune/{name}`` operation; costs are the function's prices (``Platform.prices``) under the
    platform's billing, as ``hearth cost`` counts them."""

    def __init__(self, platform: Platform, keepalive_s: float = KEEPALIVE_S) -> None:
        self.platform = platform
        self.keepalive_s = keepalive_s

    async def tune(self, request: ApiRequest) -> ApiResponse:
        raw = request.params["name"]
        name, qualifier = shapes.function_name(raw), request.query.get("Qualifier") or shapes.qualifier_of(raw)
        body = request.json()
        sizes = memory_sizes(body.get("memory_mb"))
        runs = runs_of(body.get("runs", DEFAULT_RUNS))
        parallel = body.get("parallel", False)
        if not isinstance(parallel, bool):
            raise errors.InvalidParameterValue(f"parallel must be true or false, got {parallel!r}")
        payload = body.get("payload", {})
        spec = self.platform.catalog.spec(name, qualifier)
        if runtime_family(spec.runtime) == HTTP_RUNTIME:
            raise errors.InvalidParameterValue(f"{name} runs an HTTP server (runtime {spec.runtime!r}), which takes "
                                               "requests, not invocations; tune a function that Invoke can call")
        progress: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        tuner = Tuner(self.platform, spec, payload, runs,
                      lambda memory_mb, done, total: progress.put_nowait(
                          {"type": "progress", "memory_mb": memory_mb, "done": done, "total": total}))
        task = asyncio.ensure_future(tuner.run(sizes, parallel))
        limiter = self.platform.limiter
        head = {"type": "start", "function": name, "version": spec.version, "memory_mb": sizes, "runs": runs,
                "parallel": parallel, "cpu": limiter.cpu.description if limiter else None}
        return ApiResponse(200, _line(head), [_NDJSON, (b"cache-control", b"no-cache")],
                           stream=self._follow(task, progress, self.platform.prices(name)))

    async def _follow(self, task: asyncio.Future[list[SizeResult]], progress: asyncio.Queue[dict[str, Any]],
                      prices: PriceTable) -> AsyncGenerator[bytes, None]:
        """The run's progress as it happens, then its result; cancels the run if the client goes away."""
        waiting: asyncio.Future[dict[str, Any]] | None = None
        try:
            while not task.done():
                waiting = asyncio.ensure_future(progress.get())
                await asyncio.wait((waiting, task), timeout=self.keepalive_s, return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():
                    waiting.cancel()
                    if not task.done():
                        yield _line({"type": "keepalive"})
                    continue
                lines = [waiting.result()]
                while not progress.empty():
                    lines.append(progress.get_nowait())
                yield b"".join(_line(line) for line in lines)
            lines = []
            while not progress.empty():
                lines.append(progress.get_nowait())
            try:
                results = task.result()
            except errors.HearthError as error:
                lines.append({"type": "error", "errorType": error.error_type, "message": error.message})
            except Exception as exc:  # reported to the client, logged in full here
                log.exception("power tuning failed")
                lines.append({"type": "error", "errorType": errors.ServiceError.error_type,
                              "message": f"power tuning failed: {exc}"})
            else:
                limiter = self.platform.limiter
                lines.append({"type": "result", **report(results, prices, self.platform.settings.billing),
                              "cpu": limiter.cpu.description if limiter else None})
            yield b"".join(_line(line) for line in lines)
        finally:
            for pending in (waiting, task):
                if pending is not None and not pending.done():
                    pending.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value) + b"\n"
