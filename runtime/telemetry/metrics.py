"""Prometheus metric objects for every entry of `contracts.catalogue`, on a registry passed in.

One process keeps its values in memory (exemplars included). Serving processes that share one
port (`pluginops serve --processes N`) are started with prometheus_client's
`PROMETHEUS_MULTIPROC_DIR`: each writes its values to its own files in that folder, and `/metrics`
of any of them sums every process's (`Metrics.exposition`): counters and histograms, and gauges
as the sum over the processes alive (build information as their maximum). That mode keeps no
exemplars, and a gauge read at scrape time (`read_at_scrape`) is written every
`SHARED_READ_EVERY_S` instead, since no process can call another's function during a scrape.

    >>> from prometheus_client import disable_created_metrics, CollectorRegistry
    >>> from contracts.codes import Code
    >>> metrics = Metrics(CollectorRegistry())
    >>> metrics.counter(PREFLIGHT_FINDINGS).labels(code=Code.VERSION_INVALID).inc()
    >>> metrics.registry.get_sample_value(f"{PREFLIGHT_FINDINGS.name}",
    ...                                   {"code": "VERSION_INVALID"})
    1.0
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.multiprocess import MultiProcessCollector

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

SHARED_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's switch, read at its import
SHARED_READ_EVERY_S = 1.0


def shared_folder() -> Path | None:
    """The folder this process's metrics are shared through, if it is one of several serving
    processes."""
    folder = os.environ.get(SHARED_DIR_ENV)
    return Path(folder) if folder else None


def _build(spec: MetricSpec, registry: CollectorRegistry) -> Any:
    # prometheus_client appends `_total` to counters itself; give it the base name.
    if spec.type is MetricType.COUNTER:
        return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    if spec.type is MetricType.GAUGE:
        return Gauge(spec.name, spec.help, spec.labels, registry=registry,
                     multiprocess_mode=spec.across_processes)
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
        self.shared = shared_folder()
        self._readings: list[tuple[Any, Callable[[], float]]] = []
        self._readings_lock = threading.Lock()

    def exposition(self) -> CollectorRegistry:
        """What `/metrics` exposes: this registry, or every serving process's values merged
        from the shared folder (a registry of its own: collectors of records go on it)."""
        if self.shared is None:
            return self.registry
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self.shared))  # type: ignore[no-untyped-call]
        return merged

    def read_at_scrape(self, gauge: Any, read: Callable[[], float]) -> None:
        """`gauge` (a metric without labels, or a child) shows `read()`: read at each scrape,
        or written every `SHARED_READ_EVERY_S` by a thread when processes share their values."""
        if self.shared is None:
            gauge.set_function(read)
            return
        with self._readings_lock:
            self._readings.append((gauge, read))
            if len(self._readings) == 1:
                threading.Thread(target=_write_readings, args=(weakref.ref(self),), daemon=True,
                                 name="metric-readings").start()

    def write_readings(self) -> None:
        with self._readings_lock:
            readings = list(self._readings)
        for gauge, read in readings:
            gauge.set(read())

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


def _write_readings(metrics: weakref.ref[Metrics]) -> None:
    while True:
        alive = metrics()
        if alive is None:
            return
        alive.write_readings()
        del alive
        time.sleep(SHARED_READ_EVERY_S)


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
