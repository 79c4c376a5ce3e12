"""Prometheus metrics of one service instance (its own registry, so tests can run many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The counters and gauges ``/metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.transitions = Counter(
            "hotplug_transitions",
            "Finished transitions by operation and outcome.",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hotplug_notification_latency_seconds",
            "Time from sending a notification to its reply, timeout or absence.",
            ["action"],
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60),
            registry=self.registry,
        )
        self.vetoes = Counter(
            "hotplug_vetoes", "Vetoes by subscriber.", ["subscriber"], registry=self.registry
        )
        self.timeouts = Counter(
            "hotplug_notification_failures",
            "Calls that timed out or found the subscriber disconnected.",
            ["subscriber", "delivery"],
            registry=self.registry,
        )
        self.connected = Gauge(
            "hotplug_subscribers_connected", "Connected subscribers.", registry=self.registry
        )
        self.queue_depth = Gauge(
            "hotplug_queue_depth", "Requests waiting for their turn.", registry=self.registry
        )
        self._latency_by_action: dict[str, Histogram] = {}
        self.observers = Gauge(
            "hotplug_event_observers", "Connected event-stream observers.", registry=self.registry
        )

    def latency_for(self, action: str) -> Histogram:
        """The latency histogram of one action (labelled children cached: a hot path)."""
        child = self._latency_by_action.get(action)
        if child is None:
            child = self._latency_by_action[action] = self.latency.labels(action)
        return child
