"""``FunctionPool`` scheduling, driven through a fake runtime: warm reuse, cold starts, throttling, reaping."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hearth import errors
from hearth.model import FunctionSpec, InvocationRecord
from hearth.pool.concurrency import Concurrency
from hearth.pool.instance import InvokeOutcome, InvokeRequest, Lifecycle, State
from hearth.pool.pool import FunctionPool, Invocation

T = TypeVar("T")

SPEC = FunctionSpec(name="hello", handler="app.main", code_dir=Path("/srv/hello"), memory_mb=256,
                    idle_timeout_s=100.0)


class Clock:
    """A monotonic clock the test moves by hand; shared by the pool and the fake instances."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Gate:
    """Holds one phase (Init or an invocation) open until the test lets it finish."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()

    async def pass_through(self) -> None:
        self.entered.set()
        await self.opened.wait()


class FakeInstance:
    """An in-memory instance that follows the lifecycle the pool expects of a real one."""

    def __init__(self, runtime: FakeRuntime, spec: FunctionSpec, instance_id: int, generation: int) -> None:
        self.runtime = runtime
        self.spec = spec
        self.id = instance_id
        self.lifecycle = Lifecycle()
        self.generation = generation
        self.last_used = runtime.clock()
        self.pid: int | None = None
        self.init_ms: float | None = None
        self.init_log_lines: list[str] = []
        self.on_stopped: Callable[[Any], None] | None = None
        self.requests: list[str] = []
        self.provisioned = False

    async def start(self) -> None:
        self.lifecycle.to(State.INITIALIZING)
        if self.runtime.init_gate is not None:
            await self.runtime.init_gate.pass_through()
        self.init_ms = self.runtime.init_ms
        self.init_log_lines = list(self.runtime.init_log_lines)
        if self.runtime.init_failure is not None:
            self.stop()
            raise self.runtime.init_failure
        self.lifecycle.to(State.IDLE)

    async def invoke(self, request: InvokeRequest, timeout_s: float) -> InvokeOutcome:
        self.lifecycle.to(State.BUSY)
        self.requests.append(request.request_id)
        gate = self.runtime.gates.get(request.request_id)
        if gate is not None:
            await gate.pass_through()
        self.last_used = self.runtime.clock()
        if self.lifecycle.state is State.STOPPED:  # killed while busy, as a real process would be
            return InvokeOutcome(None, errors.ExitError("killed"), duration_ms=1.0, max_rss_kb=0, status="crash")
        outcome = dataclasses.replace(self.runtime.outcome, log_lines=[f"handled {request.request_id}"])
        if outcome.status in ("oom", "crash"):
            self.stop()
        else:
            self.lifecycle.to(State.IDLE)
        return outcome

    def stop(self) -> None:
        if self.lifecycle.state is State.STOPPED:
            return
        self.lifecycle.to(State.STOPPED)
        self.runtime.stopped.append(self)
        if self.on_stopped is not None:
            self.on_stopped(self)


class FakeRuntime:
    """Creates ``FakeInstance``s and remembers them; tests set what Init and invocations do."""

    name = "fake"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.created: list[FakeInstance] = []
        self.stopped: list[FakeInstance] = []
        self.gates: dict[str, Gate] = {}
        self.init_gate: Gate | None = None
        self.init_ms = 250.0
        self.init_log_lines = ["init line"]
        self.init_failure: errors.FunctionFailure | None = None
        self.outcome = InvokeOutcome(b'"ok"', None, duration_ms=12.5, max_rss_kb=20_000)

    def create(self, spec: FunctionSpec, generation: int, *, provisioned: bool = False) -> FakeInstance:
        instance = FakeInstance(self, spec, len(self.created) + 1, generation)
        instance.provisioned = provisioned
        self.created.append(instance)
        return instance

    async def close(self) -> None:
        for instance in list(self.created):
            instance.stop()


class Harness:
    """A pool over a fake runtime, with the records it emitted."""

    def __init__(self, spec: FunctionSpec = SPEC, default_limit: int = 10) -> None:
        self.clock = Clock()
        self.runtime = FakeRuntime(self.clock)
        self.records: list[InvocationRecord] = []
        self.concurrency = Concurrency(default_limit)
        if spec.concurrency is not None:
            self.concurrency.reserve(spec.name, spec.concurrency)
        self.pool = FunctionPool(spec, self.runtime, concurrency=self.concurrency, on_record=self.records.append,
                                 clock=self.clock)

    async def call(self, request_id: str) -> Invocation:
        return await self.pool.invoke(InvokeRequest(request_id=request_id, event={"n": request_id}))

    async def hold(self, request_id: str) -> tuple[asyncio.Task[Invocation], Gate]:
        """Start a call and wait until it is running inside an instance, then keep it there."""
        gate = self.runtime.gates[request_id] = Gate()
        task = asyncio.create_task(self.call(request_id))
        await gate.entered.wait()
        return task, gate

    async def warm(self, *last_used: float) -> list[FakeInstance]:
        """New idle instances, in the order they were created, each last used at the given time.

        They are released in time order, as a monotonic clock would have it, whatever their creation order.
        """
        held = [await self.hold(f"warm-{index}") for index in range(len(last_used))]
        for at, (task, gate) in sorted(zip(last_used, held, strict=True), key=lambda pair: pair[0]):
            self.clock.now = at
            gate.opened.set()
            await task
        instances = list(self.runtime.created[-len(last_used):])
        assert [instance.last_used for instance in instances] == list(last_used)
        return instances


def run(test: Callable[[Harness], Coroutine[Any, Any, T]], harness: Harness | None = None) -> T:
    return asyncio.run(test(harness or Harness()))


def instance_of(harness: Harness, request_id: str) -> FakeInstance:
    (instance,) = [i for i in harness.runtime.created if request_id in i.requests]
    return instance


# -- cold and warm ---------------------------------------------------------------------------------------------


def test_the_first_call_cold_starts_and_the_next_reuses_the_instance() -> None:
    async def test(h: Harness) -> None:
        first = await h.call("r1")
        second = await h.call("r2")
        assert len(h.runtime.created) == 1
        assert h.runtime.created[0].requests == ["r1", "r2"]
        assert (first.record.init_ms, first.record.cold) == (250.0, True)
        assert first.record.init_log_lines == ("init line",)
        assert (second.record.init_ms, second.record.cold) == (None, False)
        assert second.record.init_log_lines == ()
        assert h.records == [first.record, second.record]

    run(test)


def test_a_cold_start_happens_only_when_no_instance_is_idle() -> None:
    async def test(h: Harness) -> None:
        task, gate = await h.hold("busy")
        await h.call("while-busy")
        assert len(h.runtime.created) == 2
        gate.opened.set()
        await task
        await h.call("after")
        assert len(h.runtime.created) == 2

    run(test)


def test_a_warm_call_takes_the_most_recently_used_idle_instance() -> None:
    async def test(h: Harness) -> None:
        first, second, third = await h.warm(10.0, 30.0, 20.0)
        await h.call("next")
        assert second.requests[-1] == "next"
        await h.call("after")  # "next" made `second` the most recently used again
        assert second.requests[-1] == "after"
        assert (first.requests, third.requests) == (["warm-0"], ["warm-2"])
        assert len(h.runtime.created) == 3

    run(test)


def test_the_invocation_carries_the_payload_and_a_full_record() -> None:
    async def test(h: Harness) -> None:
        h.clock.now = 5000.0
        invocation = await h.call("r1")
        assert (invocation.payload, invocation.error) == (b'"ok"', None)
        record = invocation.record
        assert (record.request_id, record.function, record.version, record.trigger) == (
            "r1", "hello", "$LATEST", "http")
        assert (record.memory_mb, record.status, record.error_type) == (256, "success", None)
        assert record.duration_ms == 12.5
        assert record.log_lines == ("handled r1",)

    run(test)


def test_an_error_the_handler_raised_leaves_the_instance_warm() -> None:
    async def test(h: Harness) -> None:
        failure = errors.FunctionError("KeyError", "'name'")
        h.runtime.outcome = InvokeOutcome(None, failure, duration_ms=3.0, max_rss_kb=1024, status="error")
        invocation = await h.call("r1")
        assert invocation.error is failure
        assert (invocation.record.status, invocation.record.error_type) == ("error", "KeyError")
        await h.call("r2")
        assert len(h.runtime.created) == 1

    run(test)


@pytest.mark.parametrize("status", ["crash", "oom"])
def test_an_instance_that_died_is_not_reused(status: str) -> None:
    async def test(h: Harness) -> None:
        failure = errors.ExitError("exit status 1")
        h.runtime.outcome = InvokeOutcome(None, failure, duration_ms=3.0, max_rss_kb=1024, status=status)
        invocation = await h.call("r1")
        assert invocation.record.status == status
        assert h.pool.idle == [] and h.pool.live == set()
        await h.call("r2")
        assert len(h.runtime.created) == 2

    run(test)


def test_a_call_a_warm_instance_died_before_taking_goes_to_another_instance() -> None:
    async def test(h: Harness) -> None:
        await h.call("r1")  # one warm instance
        success = h.runtime.outcome
        h.runtime.outcome = InvokeOutcome(None, errors.ExitError("exit status 1"), duration_ms=0.0, max_rss_kb=0,
                                          status="crash", delivered=False)
        first = h.runtime.created[0]

        async def then_succeed(request: InvokeRequest, timeout_s: float) -> InvokeOutcome:
            outcome = await FakeInstance.invoke(first, request, timeout_s)  # it exits without taking the call
            h.runtime.outcome = success  # and the replacement runs it
            return outcome

        first.invoke = then_succeed  # type: ignore[method-assign]
        invocation = await h.call("r2")
        assert invocation.record.status == "success"
        assert len(h.runtime.created) == 2 and h.runtime.created[1].requests == ["r2"]
        assert invocation.record.init_ms is not None  # the replacement's cold start

    run(test)


def test_a_call_a_fresh_instance_never_took_is_its_error() -> None:
    async def test(h: Harness) -> None:
        h.runtime.outcome = InvokeOutcome(None, errors.ExitError("exit status 1"), duration_ms=0.0, max_rss_kb=0,
                                          status="crash", delivered=False)
        invocation = await h.call("r1")
        assert invocation.record.status == "crash"
        assert len(h.runtime.created) == 1

    run(test)


# -- billing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration_ms, init_ms, billed_ms", [
    (1.2, 0.5, 2),        # the cold start's Init is billed with the invocation, rounded up
    (12.0, 250.0, 262),   # exact sums are not rounded further
    (99.01, 0.0, 100),
])
def test_billed_duration_is_the_rounded_up_sum_of_invocation_and_init(duration_ms: float, init_ms: float,
                                                                       billed_ms: int) -> None:
    harness = Harness()
    harness.runtime.init_ms = init_ms
    harness.runtime.outcome = InvokeOutcome(b"null", None, duration_ms=duration_ms, max_rss_kb=1)

    async def test(h: Harness) -> None:
        assert (await h.call("r1")).record.billed_ms == billed_ms

    run(test, harness)


def test_a_warm_call_is_billed_its_own_duration_and_at_least_one_ms() -> None:
    async def test(h: Harness) -> None:
        await h.call("cold")
        h.runtime.outcome = InvokeOutcome(b"null", None, duration_ms=4.1, max_rss_kb=1)
        assert (await h.call("warm")).record.billed_ms == 5
        h.runtime.outcome = InvokeOutcome(b"null", None, duration_ms=0.2, max_rss_kb=1)
        assert (await h.call("quick")).record.billed_ms == 1

    run(test)


@pytest.mark.parametrize("max_rss_kb, max_memory_mb", [(1024, 1), (1025, 2), (9000, 9), (20_000, 20)])
def test_max_memory_used_is_rounded_up_to_whole_mb(max_rss_kb: int, max_memory_mb: int) -> None:
    harness = Harness()
    harness.runtime.outcome = InvokeOutcome(b"null", None, duration_ms=1.0, max_rss_kb=max_rss_kb)

    async def test(h: Harness) -> None:
        assert (await h.call("r1")).record.max_memory_mb == max_memory_mb

    run(test, harness)


# -- throttling ------------------------------------------------------------------------------------------------


def test_at_the_concurrency_limit_a_call_is_throttled_and_recorded() -> None:
    harness = Harness(dataclasses.replace(SPEC, concurrency=2))

    async def test(h: Harness) -> None:
        held = [await h.hold("a"), await h.hold("b")]
        with pytest.raises(errors.TooManyRequests, match="at its concurrency limit of 2"):
            await h.call("c")
        assert len(h.runtime.created) == 2
        throttled = h.records[-1]
        assert (throttled.request_id, throttled.status, throttled.error_type) == (
            "c", "throttled", "TooManyRequestsException")
        assert (throttled.billed_ms, throttled.duration_ms, throttled.init_ms) == (0, 0.0, None)
        for task, gate in held:
            gate.opened.set()
            await task
        await h.call("d")  # capacity is back once an instance is idle again
        assert len(h.runtime.created) == 2

    run(test, harness)


def test_an_instance_still_starting_counts_toward_the_limit() -> None:
    harness = Harness(dataclasses.replace(SPEC, concurrency=1))

    async def test(h: Harness) -> None:
        h.runtime.init_gate = Gate()
        task = asyncio.create_task(h.call("starting"))
        await h.runtime.init_gate.entered.wait()
        with pytest.raises(errors.TooManyRequests):
            await h.call("second")
        h.runtime.init_gate.opened.set()
        assert (await task).payload == b'"ok"'

    run(test, harness)


def test_the_default_limit_applies_when_the_function_sets_none() -> None:
    async def test(h: Harness) -> None:
        task, gate = await h.hold("a")
        with pytest.raises(errors.TooManyRequests, match="limit of 1"):
            await h.call("b")
        gate.opened.set()
        await task

    run(test, Harness(default_limit=1))


def test_concurrency_zero_throttles_every_call() -> None:
    async def test(h: Harness) -> None:
        for request_id in ("a", "b"):
            with pytest.raises(errors.TooManyRequests, match="limit of 0"):
                await h.call(request_id)
        assert h.runtime.created == []
        assert [(r.request_id, r.status) for r in h.records] == [("a", "throttled"), ("b", "throttled")]

    run(test, Harness(dataclasses.replace(SPEC, concurrency=0)))


# -- reaping ---------------------------------------------------------------------------------------------------


def test_reap_stops_instances_idle_longer_than_the_timeout_least_recently_used_first() -> None:
    async def test(h: Harness) -> None:
        oldest, newest, middle = await h.warm(1000.0, 1030.0, 1020.0)  # idle_timeout_s is 100
        assert h.pool.reap(now=1090.0) == 0
        assert h.pool.reap(now=1110.0) == 1
        assert h.runtime.stopped == [oldest]
        assert h.pool.reap(now=1200.0) == 2
        assert h.runtime.stopped == [oldest, middle, newest]
        assert all(i.lifecycle.state is State.STOPPED for i in (oldest, middle, newest))
        assert h.pool.idle == [] and h.pool.live == set()

    run(test)


def test_reap_reads_the_injected_clock() -> None:
    async def test(h: Harness) -> None:
        (instance,) = await h.warm(1000.0)
        h.clock.now = 1050.0
        assert h.pool.reap() == 0
        h.clock.now = 1101.0
        assert h.pool.reap() == 1
        assert h.runtime.stopped == [instance]

    run(test)


def test_reap_leaves_busy_instances_alone_and_a_reaped_one_is_never_reused() -> None:
    async def test(h: Harness) -> None:
        idle, taken = await h.warm(1000.0, 1001.0)
        task, gate = await h.hold("busy")
        busy = instance_of(h, "busy")
        assert busy is taken
        assert h.pool.reap(now=5000.0) == 1
        assert h.runtime.stopped == [idle]
        assert busy.lifecycle.state is State.BUSY
        gate.opened.set()
        await task
        await h.call("next")
        assert instance_of(h, "next") is busy
        assert idle.requests == ["warm-0"]

    run(test)


# -- updates ---------------------------------------------------------------------------------------------------


def test_update_stops_idle_instances_now_and_busy_ones_when_they_finish() -> None:
    async def test(h: Harness) -> None:
        idle_one, idle_two, taken = await h.warm(1000.0, 1001.0, 1002.0)
        task, gate = await h.hold("busy")
        busy = instance_of(h, "busy")
        assert busy is taken
        new_spec = dataclasses.replace(SPEC, memory_mb=512)
        h.pool.update(new_spec)
        assert set(h.runtime.stopped) == {idle_one, idle_two}
        assert busy.lifecycle.state is State.BUSY
        gate.opened.set()
        finished = await task
        assert finished.payload == b'"ok"'  # the call in flight completes on the old code
        assert busy.lifecycle.state is State.STOPPED
        assert h.pool.idle == [] and h.pool.live == set()
        after = await h.call("after")
        fresh = instance_of(h, "after")
        assert fresh not in (idle_one, idle_two, busy)
        assert fresh.generation == busy.generation + 1
        assert fresh.spec is new_spec
        assert (after.record.memory_mb, after.record.cold) == (512, True)

    run(test)


def test_an_instance_started_before_an_update_is_not_kept() -> None:
    async def test(h: Harness) -> None:
        h.runtime.init_gate = Gate()
        task = asyncio.create_task(h.call("starting"))
        await h.runtime.init_gate.entered.wait()
        h.pool.update(dataclasses.replace(SPEC, timeout_s=10))
        h.runtime.init_gate.opened.set()
        await task
        assert h.runtime.created[0].lifecycle.state is State.STOPPED
        h.runtime.init_gate = None
        await h.call("after")
        assert len(h.runtime.created) == 2

    run(test)


# -- Init failures ---------------------------------------------------------------------------------------------


def test_an_init_failure_is_the_invocations_error_and_the_instance_is_dropped() -> None:
    async def test(h: Harness) -> None:
        failure = errors.ImportModuleError("Unable to import module 'app': No module named 'app'")
        h.runtime.init_failure = failure
        h.runtime.init_ms = 40.5
        invocation = await h.call("r1")
        assert (invocation.payload, invocation.error) == (None, failure)
        record = invocation.record
        assert (record.status, record.error_type) == ("error", "Runtime.ImportModuleError")
        assert (record.init_ms, record.billed_ms, record.duration_ms) == (40.5, 41, 0.0)
        assert record.init_log_lines == ("init line",)
        assert h.records == [record]
        assert h.runtime.created[0].requests == []
        assert h.pool.idle == [] and h.pool.live == set()
        h.runtime.init_failure = None
        await h.call("r2")
        assert len(h.runtime.created) == 2
        assert h.runtime.created[1].requests == ["r2"]

    run(test)


def test_an_init_failure_frees_its_place_under_the_limit() -> None:
    async def test(h: Harness) -> None:
        h.runtime.init_failure = errors.Timedout("Init timed out after 10.00 seconds")
        assert (await h.call("r1")).error is h.runtime.init_failure
        h.runtime.init_failure = None
        assert (await h.call("r2")).error is None

    run(test, Harness(dataclasses.replace(SPEC, concurrency=1)))


# -- close -----------------------------------------------------------------------------------------------------


def test_close_stops_every_instance_and_refuses_new_calls() -> None:
    async def test(h: Harness) -> None:
        idle, taken = await h.warm(1000.0, 1001.0)
        task, gate = await h.hold("busy")
        busy = instance_of(h, "busy")
        assert busy is taken
        h.pool.close()
        assert set(h.runtime.stopped) == {idle, busy}
        with pytest.raises(errors.TooManyRequests):
            await h.call("late")
        gate.opened.set()
        killed = await task
        assert (killed.record.status, killed.record.error_type) == ("crash", "Runtime.ExitError")
        assert h.pool.live == set()

    run(test)


# -- provisioned concurrency -----------------------------------------------------------------------------------


async def settle() -> None:
    """Let background Init tasks (fake ones finish at once) run to completion."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_provisioned_instances_start_ahead_of_traffic_and_serve_without_init() -> None:
    async def test(h: Harness) -> None:
        h.pool.set_provisioned(2)
        assert h.pool.provision() == 2
        await settle()
        assert [i.provisioned for i in h.runtime.created] == [True, True]
        assert h.pool.provisioned_ready == 2
        invocation = await h.call("r1")
        assert invocation.record.init_ms is None
        assert instance_of(h, "r1").provisioned
        assert h.pool.provision() == 0  # target met

    run(test)


def test_provisioned_instances_are_used_before_on_demand_ones_and_never_reaped() -> None:
    async def test(h: Harness) -> None:
        (on_demand,) = await h.warm(1001.0)
        h.pool.set_provisioned(1)
        h.pool.provision()
        await settle()
        await h.call("r1")
        assert instance_of(h, "r1").provisioned
        h.clock.now += 10_000
        assert h.pool.reap() == 1
        assert h.runtime.stopped == [on_demand]
        assert h.pool.provisioned_ready == 1

    run(test)


def test_a_provisioned_instance_that_dies_is_replaced() -> None:
    async def test(h: Harness) -> None:
        h.pool.set_provisioned(1)
        h.pool.provision()
        await settle()
        h.runtime.outcome = InvokeOutcome(None, errors.ExitError("boom"), 1.0, 0, status="crash")
        await h.call("r1")
        assert h.pool.provisioned_ready == 0
        assert h.pool.provision() == 1
        await settle()
        assert h.pool.provisioned_ready == 1

    run(test)


def test_a_failed_provisioned_init_is_reported_and_retried_later() -> None:
    async def test(h: Harness) -> None:
        h.runtime.init_failure = errors.ImportModuleError("No module named 'app'")
        h.pool.set_provisioned(1)
        h.pool.provision()
        await settle()
        assert h.pool.provision_error == "Runtime.ImportModuleError: No module named 'app'"
        assert h.pool.provision() == 0  # backing off
        h.runtime.init_failure = None
        h.clock.now += 60
        assert h.pool.provision() == 1
        await settle()
        assert (h.pool.provisioned_ready, h.pool.provision_error) == (1, None)

    run(test)


def test_lowering_the_provisioned_target_stops_idle_provisioned_instances() -> None:
    async def test(h: Harness) -> None:
        h.pool.set_provisioned(3)
        h.pool.provision()
        await settle()
        h.pool.set_provisioned(1)
        assert len(h.runtime.stopped) == 2
        assert h.pool.provisioned_ready == 1

    run(test)
