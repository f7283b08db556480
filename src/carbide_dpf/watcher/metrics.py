"""Prometheus metrics of the watcher.

Every watcher registers its metrics in a `CollectorRegistry`. By default that is a private
registry (`watcher.metrics.registry`), so that several watchers in one process, or in one test
run, never collide; pass `registry=prometheus_client.REGISTRY` to publish them through the
process's default exposition.

| metric | type | labels |
| --- | --- | --- |
| `carbide_dpf_watcher_events_total` | counter | `type`: ADDED, MODIFIED, DELETED, RESYNC |
| `carbide_dpf_watcher_callbacks_total` | counter | `callback`: on_dpu_event, ... |
| `carbide_dpf_watcher_callback_failures_total` | counter | `callback` (each raise) |
| `carbide_dpf_watcher_callback_retries_total` | counter | `callback` |
| `carbide_dpf_watcher_callback_gave_up_total` | counter | `callback` (retry limit reached) |
| `carbide_dpf_watcher_queue_depth` | gauge | deliveries queued or running |
| `carbide_dpf_watcher_relists_total` | gauge | the informer's relist count |
| `carbide_dpf_watcher_event_to_callback_seconds` | histogram | `callback` |
| `carbide_dpf_watcher_is_leader` | gauge | 1 while this replica leads |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["CallbackMetrics", "WatcherMetrics"]

# Event-to-callback latency: the target is a p99 under 20 ms, so resolve finely below it.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


@dataclass(frozen=True, slots=True)
class CallbackMetrics:
    """The labelled children of one callback, looked up once (`labels()` costs on a hot path)."""

    runs: Counter
    failures: Counter
    retries: Counter
    gave_up: Counter
    latency: Histogram


class WatcherMetrics:
    """The watcher's metrics, registered in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Register the metrics in `registry` (a new private registry if None)."""
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        prefix = "carbide_dpf_watcher"
        self.events = Counter(f"{prefix}_events", "DPU events observed by the watcher.",
                              ["type"], registry=reg)
        self.callbacks = Counter(f"{prefix}_callbacks", "Callback invocations.",
                                 ["callback"], registry=reg)
        self.failures = Counter(f"{prefix}_callback_failures", "Callback invocations that raised.",
                                ["callback"], registry=reg)
        self.retries = Counter(f"{prefix}_callback_retries", "Deliveries scheduled for a retry.",
                               ["callback"], registry=reg)
        self.gave_up = Counter(f"{prefix}_callback_gave_up",
                               "Deliveries given up after the retry limit.",
                               ["callback"], registry=reg)
        self.queue_depth = Gauge(f"{prefix}_queue_depth", "Deliveries queued or running.",
                                 registry=reg)
        self.relists = Gauge(f"{prefix}_relists_total",
                             "Relists of the DPU informer (watch expired, 410 Gone).",
                             registry=reg)
        self.latency = Histogram(f"{prefix}_event_to_callback_seconds",
                                 "Time from receiving a change to starting its callback.",
                                 ["callback"], buckets=_LATENCY_BUCKETS, registry=reg)
        self.is_leader = Gauge(f"{prefix}_is_leader", "1 while this replica leads, else 0.",
                               registry=reg)

    def for_events(self, types: Iterable[str]) -> dict[str, Counter]:
        """The `events` counter child of each event type."""
        return {t: self.events.labels(t) for t in types}

    def for_callbacks(self, names: Iterable[str]) -> dict[str, CallbackMetrics]:
        """The metric children of each callback name."""
        return {
            name: CallbackMetrics(
                runs=self.callbacks.labels(name),
                failures=self.failures.labels(name),
                retries=self.retries.labels(name),
                gave_up=self.gave_up.labels(name),
                latency=self.latency.labels(name),
            )
            for name in names
        }

    def bind(self, queue_depth: Callable[[], float], relists: Callable[[], float]) -> None:
        """Read the queue depth and the relist count from their owners at scrape time."""
        self.queue_depth.set_function(queue_depth)
        self.relists.set_function(relists)
