"""What a scrape of `serve`'s `/metrics` costs with a fleet of plugins, beside prometheus_client's
own exposition of the same series in the same run.

The runtime's registry is built as `serve` builds it (`runtime.telemetry.metrics.Metrics`, the
durable collectors over a home with a journal and an audit log, the process collector, the pool
gauges), every plugin's execution series created and counted as executions create them (four
outcomes, the latency histogram with an exemplar, cost and tokens). The baseline is a bare
`CollectorRegistry` holding the same execution series and nothing else. Both are exposed in the
Prometheus text format and in OpenMetrics (what Prometheus asks for when it wants exemplars);
median of 5 after a warm-up. Goal (issue 19): at most 1 s and 5 MB at 1,000 plugins.

    .venv/bin/python bench/metrics_bench.py [--plugins 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client import generate_latest as text_exposition
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_exposition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.catalogue import (
    EXECUTION_OUTCOMES,
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    PLUGIN_TOKENS,
)
from contracts.layout import Layout
from runtime.install.journal import Journal
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.pool import WorkerPool
from runtime.telemetry.durable import register_durable_metrics
from runtime.telemetry.metrics import Metrics, without_created_series

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
GOAL_S, GOAL_MB = 1.0, 5.0


def runtime_registry(plugins: int, home: Path) -> tuple[CollectorRegistry, WorkerPool]:
    without_created_series()  # as `serve` exposes them (process-wide: the baseline too)
    layout = Layout(home)
    Journal(layout.journal).close()
    AuditLog(layout.audit_log).event("bench.start", plugins=plugins)
    metrics = Metrics(CollectorRegistry())
    register_durable_metrics(metrics.registry, layout)
    ProcessCollector(registry=metrics.registry)
    pool = WorkerPool(metrics=metrics)
    for i in range(plugins):
        label = f"plugin-{i:04d}"
        for outcome in EXECUTION_OUTCOMES:
            metrics.series(PLUGIN_EXECUTIONS, label, "node", "1.0.0", outcome).inc()
        metrics.series(PLUGIN_EXECUTION_DURATION, label, "node").observe(
            0.012, exemplar={"trace_id": TRACE})
        metrics.series(PLUGIN_EXECUTION_COST, label, "node").inc(0.002)
        metrics.series(PLUGIN_TOKENS, label).inc(10)
    return metrics.registry, pool


def bare_registry(plugins: int) -> CollectorRegistry:
    registry = CollectorRegistry()
    executions = Counter(PLUGIN_EXECUTIONS.name, "", PLUGIN_EXECUTIONS.labels, registry=registry)
    duration = Histogram(PLUGIN_EXECUTION_DURATION.name, "", PLUGIN_EXECUTION_DURATION.labels,
                         buckets=PLUGIN_EXECUTION_DURATION.buckets, registry=registry)
    cost = Counter(PLUGIN_EXECUTION_COST.name, "", PLUGIN_EXECUTION_COST.labels,
                   registry=registry)
    tokens = Counter(PLUGIN_TOKENS.name, "", PLUGIN_TOKENS.labels, registry=registry)
    for i in range(plugins):
        label = f"plugin-{i:04d}"
        for outcome in EXECUTION_OUTCOMES:
            executions.labels(label, "node", "1.0.0", outcome).inc()
        duration.labels(label, "node").observe(0.012, exemplar={"trace_id": TRACE})
        cost.labels(label, "node").inc(0.002)
        tokens.labels(label).inc(10)
    return registry


def timed(expose: Callable[[CollectorRegistry], bytes], registry: CollectorRegistry
          ) -> tuple[float, int]:
    size = len(expose(registry))  # warm-up
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        expose(registry)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=1000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pluginops-metrics-bench-") as folder:
        runtime, pool = runtime_registry(options.plugins, Path(folder))
        bare = bare_registry(options.plugins)
        print(f"{options.plugins} plugins; median of 5 scrapes after a warm-up")
        print(f"{'format':<12} {'runtime':>10} {'size':>9} {'bare registry':>14} {'ratio':>7}")
        met = True
        for name, expose in (("text", text_exposition), ("openmetrics", openmetrics_exposition)):
            ours, size = timed(expose, runtime)
            theirs, _ = timed(expose, bare)
            print(f"{name:<12} {ours * 1000:>8.0f} ms {size / 1e6:>6.2f} MB "
                  f"{theirs * 1000:>11.0f} ms {ours / theirs:>6.2f}x")
            met &= ours <= GOAL_S and size / 1e6 <= GOAL_MB
        pool.close()
    print(f"goal (<= {GOAL_S:g} s and <= {GOAL_MB:g} MB in both formats): "
          f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
