"""Prometheus metrics for ``GET /metrics`` on the control port (the text exposition format, via prometheus_client
with a registry of Hearth's own, so two platforms in one process never share counters).

Two kinds:

- **fed by records** (``Metrics.observe`` is a ``RecordLog`` sink: every invocation, any trigger, leaves one
  record): ``hearth_invocations_total{function,version,trigger,status}``, ``hearth_invocation_duration_seconds``
  and ``hearth_init_duration_seconds`` histograms per function, ``hearth_cold_starts_total`` and
  ``hearth_throttles_total``. An observation is a few dictionary lookups and additions (no lock: the event loop
  is one thread); the families are built when scraped.
- **read at scrape** (``render`` takes a snapshot, then the collector reports it): ``hearth_concurrent_executions``
  (busy instances) and ``hearth_instances{function,version,state,provisioned}`` from the pools;
  ``hearth_async_events{state}`` and ``hearth_async_oldest_event_age_seconds`` from the event store's ``@async``
  queue; ``hearth_queue_messages{queue,state}`` and ``hearth_queue_oldest_message_age_seconds{queue}`` per queue;
  ``hearth_log_records_dropped_total{reason}`` from the log store (``full``: its queue; ``unwritable``: its folder);
  ``hearth_drain_dropped_total{drain,reason}`` and ``hearth_drain_sent_total{drain}`` from the log drains (lines).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
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


class _Histogram:
    """Bucket counts and a sum, kept with plain additions (the event loop is one thread)."""

    __slots__ = ("buckets", "count", "counts", "total")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)  # per bucket (not cumulative); above the last: count - sum(counts)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        index = bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.count += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        out: list[tuple[str, float]] = []
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            out.append((repr(bound), running))  # "0.005", as Prometheus spells a bucket's "le"
        out.append(("+Inf", self.count))
        return out


class Metrics:
    """The platform's metrics; see the module docstring."""

    def __init__(self, platform: Platform, clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.clock = clock
        # Counted with plain dictionaries on the event loop (an observation is a few lookups and additions, with no
        # lock): prometheus_client's labelled metrics take a lock per call, measurable at 10,000 records a second.
        self.invocations: dict[tuple[str, str, str, str], int] = {}  # (function, version, trigger, status)
        self.duration: dict[str, _Histogram] = {}
        self.init_duration: dict[str, _Histogram] = {}
        self.cold_starts: dict[tuple[str, str], int] = {}
        self.throttles: dict[str, int] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self._snapshot = _Snapshot()
        self.registry.register(_ScrapeCollector(self))

    def observe(self, item: InvocationRecord | InstanceOutput) -> None:
        """A ``RecordLog`` sink: count one invocation."""
        if type(item) is not InvocationRecord:
            return
        key = (item.function, item.version, item.trigger, item.status)
        self.invocations[key] = self.invocations.get(key, 0) + 1
        if item.status == "throttled":
            self.throttles[item.function] = self.throttles.get(item.function, 0) + 1
            return
        histogram = self.duration.get(item.function)
        if histogram is None:
            histogram = self.duration[item.function] = _Histogram(DURATION_BUCKETS)
        histogram.observe(item.duration_ms / 1000)
        if item.init_ms is not None:
            cold = (item.function, item.version)
            self.cold_starts[cold] = self.cold_starts.get(cold, 0) + 1
            histogram = self.init_duration.get(item.function)
            if histogram is None:
                histogram = self.init_duration[item.function] = _Histogram(INIT_BUCKETS)
            histogram.observe(item.init_ms / 1000)

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
        metrics = self.metrics
        invocations = CounterMetricFamily("hearth_invocations", "Invocations by function, version, trigger and "
                                          "status.", labels=["function", "version", "trigger", "status"])
        for key, count in sorted(metrics.invocations.items()):
            invocations.add_metric(list(key), count)
        yield invocations
        cold = CounterMetricFamily("hearth_cold_starts", "Invocations that started a new instance.",
                                   labels=["function", "version"])
        for pair, count in sorted(metrics.cold_starts.items()):
            cold.add_metric(list(pair), count)
        yield cold
        throttles = CounterMetricFamily("hearth_throttles", "Invocations refused at a concurrency limit (429).",
                                        labels=["function"])
        for function, count in sorted(metrics.throttles.items()):
            throttles.add_metric([function], count)
        yield throttles
        for name, text, histograms in (
                ("hearth_invocation_duration_seconds", "Invocation duration (not Init).", metrics.duration),
                ("hearth_init_duration_seconds", "Init duration of cold starts.", metrics.init_duration)):
            family = HistogramMetricFamily(name, text, labels=["function"])
            for function, histogram in sorted(histograms.items()):
                family.add_metric([function], histogram.cumulative(), histogram.total)
            yield family
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
        drain_dropped = CounterMetricFamily("hearth_drain_dropped", "Log lines a drain could not deliver.",
                                            labels=["drain", "reason"])
        drain_sent = CounterMetricFamily("hearth_drain_sent", "Log lines a drain delivered.", labels=["drain"])
        for drain in self.metrics.platform.drains:
            for reason, count in drain.dropped.items():
                drain_dropped.add_metric([drain.name, reason], count)
            drain_sent.add_metric([drain.name], drain.sent)
        yield from (drain_dropped, drain_sent)
