"""Prometheus metric objects for every entry of `contracts.catalogue`, on a registry passed in.

    >>> from prometheus_client import disable_created_metrics, CollectorRegistry
    >>> from contracts.codes import Code
    >>> metrics = Metrics(CollectorRegistry())
    >>> metrics.counter(PREFLIGHT_FINDINGS).labels(code=Code.VERSION_INVALID).inc()
    >>> metrics.registry.get_sample_value(f"{PREFLIGHT_FINDINGS.name}",
    ...                                   {"code": "VERSION_INVALID"})
    1.0
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from contracts.catalogue import (
    ALL_METRICS,
    DURABLE_METRICS,
    OVERFLOW_PLUGIN,
    PLUGIN_LABEL_CAP,
    PREFLIGHT_FINDINGS,
    MetricSpec,
    MetricType,
)

__all__ = ["PREFLIGHT_FINDINGS", "Metrics", "PluginLabel"]


def _build(spec: MetricSpec, registry: CollectorRegistry) -> Any:
    # prometheus_client appends `_total` to counters itself; give it the base name.
    if spec.type is MetricType.COUNTER:
        return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    if spec.type is MetricType.GAUGE:
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


def without_created_series() -> None:
    """Expose no `_created` series (process-wide: prometheus_client's switch). Nothing reads
    them, and they are 7 of a plugin's 29 series per host: a quarter of a fleet's series in the
    store (`bench/fleet_bench.py`)."""
    disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """All catalogue metrics registered on one registry (each test builds its own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # those of the journal and the audit log are read from them by collectors (durable.py)
        self._metrics = {spec.name: _build(spec, registry) for spec in ALL_METRICS
                         if spec not in DURABLE_METRICS}
        self.plugin_label = PluginLabel()
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}

    def series(self, spec: MetricSpec, *values: str) -> Any:
        """The child of `spec` with these label values (in `spec.labels` order), kept: the hot
        path pays a dictionary lookup, not prometheus_client's label validation."""
        key = (spec.name, values)
        child = self._children.get(key)
        if child is None:
            child = self._metrics[spec.name].labels(*values)
            self._children[key] = child
        return child

    def counter(self, spec: MetricSpec) -> Counter:
        metric = self._metrics[spec.name]
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, spec: MetricSpec) -> Gauge:
        metric = self._metrics[spec.name]
        assert isinstance(metric, Gauge)
        return metric

    def histogram(self, spec: MetricSpec) -> Histogram:
        metric = self._metrics[spec.name]
        assert isinstance(metric, Histogram)
        return metric


class PluginLabel:
    """Caps the distinct values of the `plugin` label; later plugins report as `other`."""

    def __init__(self, cap: int = PLUGIN_LABEL_CAP) -> None:
        self.cap = cap
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, plugin: str) -> str:
        if plugin in self._seen:
            return plugin
        with self._lock:
            if len(self._seen) < self.cap:
                self._seen.add(plugin)
                return plugin
        return OVERFLOW_PLUGIN
