"""Prometheus metrics for ``GET /metrics`` on the control port (the text exposition format, via prometheus_client
with a registry of Hearth's own, so two platforms in one process never share counters).

Two kinds:

- **fed by records** (``Metrics.observe`` is a ``RecordLog`` sink: every invocation, any trigger, leaves one
  record): ``hearth_invocations_total{function,version,trigger,status}``, ``hearth_invocation_duration_seconds``
  and ``hearth_init_duration_seconds`` histograms per function, ``hearth_cold_starts_total`` and
  ``hearth_throttles_total``. An observation is a few dictionary lookups and additions under prometheus_client's
  lock; it never waits on I/O.
- **read at scrape** (``render`` takes a snapshot, then the collector reports it): ``hearth_concurrent_executions``
  (busy instances) and ``hearth_instances{function,version,state,provisioned}`` from the pools;
  ``hearth_async_events{state}`` and ``hearth_async_oldest_event_age_seconds`` from the event store's ``@async``
  queue; ``hearth_queue_messages{queue,state}`` and ``hearth_queue_oldest_message_age_seconds{queue}`` per queue;
  ``hearth_log_records_dropped_total{reason}`` from the log store (``full``: its queue; ``unwritable``: its folder).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hearth.model import InvocationRecord
from hearth.store.events import ASYNC_QUEUE, QueueStats
from hearth.telemetry.records import InstanceOutput

if TYPE_CHECKING:
    from prometheus_client import Metric

    from hearth.platform import Platform

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                    900.0)
INIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class _Snapshot:
    """What the scrape-time collector reports, taken just before the registry renders."""

    instances: dict[tuple[str, str, str, str], int] = field(default_factory=dict)  # (fn, version, state, prov.)
    busy: dict[str, int] = field(default_factory=dict)
    queues: dict[str, QueueStats] = field(default_factory=dict)  # ASYNC_QUEUE included
    now: float = 0.0


class Metrics:
    """The platform's metrics; see the module docstring."""

    def __init__(self, platform: Platform, clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.invocations = Counter("hearth_invocations", "Invocations by function, version, trigger and status.",
                                   ["function", "version", "trigger", "status"], registry=self.registry)
        self.duration = Histogram("hearth_invocation_duration_seconds", "Invocation duration (not Init).",
                                  ["function"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.init_duration = Histogram("hearth_init_duration_seconds", "Init duration of cold starts.",
                                       ["function"], buckets=INIT_BUCKETS, registry=self.registry)
        self.cold_starts = Counter("hearth_cold_starts", "Invocations that started a new instance.",
                                   ["function", "version"], registry=self.registry)
        self.throttles = Counter("hearth_throttles", "Invocations refused at a concurrency limit (429).",
                                 ["function"], registry=self.registry)
        self._snapshot = _Snapshot()
        self.registry.register(_ScrapeCollector(self))

    def observe(self, item: InvocationRecord | InstanceOutput) -> None:
        """A ``RecordLog`` sink: count one invocation."""
        if not isinstance(item, InvocationRecord):
            return
        self.invocations.labels(item.function, item.version, item.trigger, item.status).inc()
        if item.status == "throttled":
            self.throttles.labels(item.function).inc()
            return
        self.duration.labels(item.function).observe(item.duration_ms / 1000)
        if item.init_ms is not None:
            self.cold_starts.labels(item.function, item.version).inc()
            self.init_duration.labels(item.function).observe(item.init_ms / 1000)

    async def render(self) -> bytes:
        """The exposition text, with the scrape-time gauges read now."""
        snapshot = _Snapshot(now=self.clock())
        for item in self.platform.instances():
            key = (item["function"], item["version"], item["state"], "true" if item["provisioned"] else "false")
            snapshot.instances[key] = snapshot.instances.get(key, 0) + 1
            if item["state"] == "busy":
                snapshot.busy[item["function"]] = snapshot.busy.get(item["function"], 0) + 1
        for queue in (ASYNC_QUEUE, *sorted(self.platform.catalog.queues)):
            snapshot.queues[queue] = await self.platform.events.stats(queue)
        self._snapshot = snapshot
        return generate_latest(self.registry)


class _ScrapeCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snapshot = self.metrics._snapshot
        busy = GaugeMetricFamily("hearth_concurrent_executions", "Instances running an invocation now.",
                                 labels=["function"])
        for function, count in sorted(snapshot.busy.items()):
            busy.add_metric([function], count)
        yield busy
        instances = GaugeMetricFamily("hearth_instances", "Live instances by state.",
                                      labels=["function", "version", "state", "provisioned"])
        for key, count in sorted(snapshot.instances.items()):
            instances.add_metric(list(key), count)
        yield instances
        async_events = GaugeMetricFamily("hearth_async_events", "Asynchronous events stored, by state.",
                                         labels=["state"])
        async_age = GaugeMetricFamily("hearth_async_oldest_event_age_seconds",
                                      "Age of the oldest asynchronous event stored (0 when none).")
        queue_messages = GaugeMetricFamily("hearth_queue_messages", "Messages in a queue, by state.",
                                           labels=["queue", "state"])
        queue_age = GaugeMetricFamily("hearth_queue_oldest_message_age_seconds",
                                      "Age of the oldest message in a queue (0 when empty).", labels=["queue"])
        for queue, stats in snapshot.queues.items():
            age = max(0.0, snapshot.now - stats.oldest_sent_at) if stats.oldest_sent_at is not None else 0.0
            states = (("visible", stats.visible), ("in_flight", stats.in_flight), ("delayed", stats.delayed))
            if queue == ASYNC_QUEUE:
                for state, count in states:
                    async_events.add_metric([state], count)
                async_age.add_metric([], age)
            else:
                for state, count in states:
                    queue_messages.add_metric([queue, state], count)
                queue_age.add_metric([queue], age)
        yield from (async_events, async_age, queue_messages, queue_age)
        store = self.metrics.platform.logs
        dropped = CounterMetricFamily("hearth_log_records_dropped", "Records the log store could not keep.",
                                      labels=["reason"])
        dropped.add_metric(["full"], store.dropped_full)
        dropped.add_metric(["unwritable"], store.dropped_unwritable)
        yield dropped
