"""`pluginops evaluate --serve`: evaluate on a schedule and export the results for Prometheus
(the `PluginCostAnomaly` alert and the dashboards read them). Each cycle replaces the whole set
of series at once, so a scrape never sees half of one evaluation, and a plugin that disappeared
stops being exported.

The evaluator is watched too: it exports when its last good cycle ended, how long cycles take,
cycles by result and failure reason, the plugins evaluated, its requests to the source, and
whether the exported figures are stale (the last cycle failed and the previous ones are kept);
`PluginopsEvaluatorStale` pages when no cycle has succeeded for three intervals."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collector.query_api import REQUESTS
from contracts.catalogue import (
    COST_ANOMALY_MATERIAL,
    COST_ANOMALY_SCORE,
    EVALUATOR_CYCLE_DURATION,
    EVALUATOR_CYCLES,
    EVALUATOR_HEALTH_METRICS,
    EVALUATOR_INTERVAL,
    EVALUATOR_LAST_SUCCESS,
    EVALUATOR_PLUGINS,
    EVALUATOR_SOURCE_REQUESTS,
    EVALUATOR_STALE,
    LATENCY_REGRESSION_RATIO,
    SLO_BUDGET_REMAINING,
    SLO_BURN_RATE,
    MetricSpec,
)
from contracts.codes import Code
from contracts.errors import PluginopsError
from evaluator.results import Evaluation


def _family(spec: MetricSpec) -> GaugeMetricFamily:
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


def families(evaluation: Evaluation) -> list[GaugeMetricFamily]:
    budget, burn = _family(SLO_BUDGET_REMAINING), _family(SLO_BURN_RATE)
    score, regression = _family(COST_ANOMALY_SCORE), _family(LATENCY_REGRESSION_RATIO)
    material = _family(COST_ANOMALY_MATERIAL)
    for p in evaluation.plugins:
        for slo in p.slos:
            if slo.budget_remaining is not None:
                budget.add_metric([p.plugin, p.plugin_type, slo.slo], slo.budget_remaining)
            for window, figures in slo.windows.items():
                if figures.burn_rate is not None:
                    burn.add_metric([p.plugin, p.plugin_type, slo.slo, window],
                                    figures.burn_rate)
        if p.cost_anomaly_score is not None and math.isfinite(p.cost_anomaly_score):
            score.add_metric([p.plugin, p.plugin_type], p.cost_anomaly_score)
        material.add_metric([p.plugin, p.plugin_type], float(any(
            a.kind == "cost" and a.ongoing and a.material for a in p.anomalies)))
        for r in p.latency_regressions:
            if r.ratio is not None:
                regression.add_metric([p.plugin, p.plugin_type, f"p{round(r.quantile * 100)}"],
                                      r.ratio)
    return [budget, burn, score, material, regression]


class LatestEvaluation(Collector):
    def __init__(self) -> None:
        self._families: list[GaugeMetricFamily] = []
        self._lock = threading.Lock()

    def publish(self, evaluation: Evaluation) -> None:
        built = families(evaluation)
        with self._lock:
            self._families = built

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            current = list(self._families)
        yield from current

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [_family(spec) for spec in (SLO_BUDGET_REMAINING, SLO_BURN_RATE,
                                           COST_ANOMALY_SCORE, COST_ANOMALY_MATERIAL,
                                           LATENCY_REGRESSION_RATIO)]


class Health(Collector):
    """The evaluator's own state, as of the last cycle."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last_success: float | None = None
        self.duration_s = 0.0
        self.plugins = 0
        self.stale = False
        self.cycles: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def succeeded(self, ended: float, duration_s: float, plugins: int,
                  stale: bool = False) -> None:
        """A cycle ended well; `stale` when its figures are still older than the source's
        data (it evaluated an instant in the past)."""
        with self._lock:
            self.last_success, self.duration_s, self.plugins = ended, duration_s, plugins
            self.stale = stale
            key = ("success", "")
            self.cycles[key] = self.cycles.get(key, 0) + 1

    def failed(self, duration_s: float, reason: str) -> None:
        with self._lock:
            self.duration_s, self.stale = duration_s, True
            key = ("failure", reason)
            self.cycles[key] = self.cycles.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            gauges = {EVALUATOR_INTERVAL: self.interval_s,
                      EVALUATOR_CYCLE_DURATION: self.duration_s,
                      EVALUATOR_PLUGINS: float(self.plugins),
                      EVALUATOR_STALE: 1.0 if self.stale else 0.0}
            if self.last_success is not None:
                gauges[EVALUATOR_LAST_SUCCESS] = self.last_success
            cycles = dict(self.cycles)
        for spec, value in gauges.items():
            yield GaugeMetricFamily(spec.name, spec.help, value=value)
        family = CounterMetricFamily(EVALUATOR_CYCLES.name.removesuffix("_total"),
                                     EVALUATOR_CYCLES.help, labels=list(EVALUATOR_CYCLES.labels))
        for (outcome, reason), count in sorted(cycles.items()):
            family.add_metric([outcome, reason], count)
        yield family
        yield CounterMetricFamily(EVALUATOR_SOURCE_REQUESTS.name.removesuffix("_total"),
                                  EVALUATOR_SOURCE_REQUESTS.help, value=REQUESTS.value)

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(spec.name, spec.help) for spec in EVALUATOR_HEALTH_METRICS]


def failure_reason(exc: Exception) -> str:
    return exc.code if isinstance(exc, PluginopsError) else type(exc).__name__


def serve(evaluate: Callable[[], Evaluation], host: str, port: int, interval_s: float,
          log: Callable[[str], None]) -> None:
    """Evaluate now and every `interval_s` until SIGTERM or SIGINT; a failed cycle keeps the
    previous results exported and is logged."""
    registry = CollectorRegistry()
    latest = LatestEvaluation()
    registry.register(latest)
    health = Health(interval_s)
    registry.register(health)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise PluginopsError(Code.LISTEN_FAILED, f"cannot listen on {host}:{port}: {exc.strerror}",
                             where="--listen", next_step="choose a free port or address"
                             ) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log(f"serving evaluator metrics on http://{host}:{server.server_port}/metrics")
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                evaluation = evaluate()
                latest.publish(evaluation)
                health.succeeded(time.time(), time.monotonic() - started,
                                 len(evaluation.plugins), evaluation.stale)
                log(f"evaluated {len(evaluation.plugins)} plugins at {evaluation.at}")
            except Exception as exc:
                health.failed(time.monotonic() - started, failure_reason(exc))
                log(f"evaluation failed, keeping the previous results (now stale): {exc}")
            stop.wait(interval_s)
    finally:
        server.shutdown()
        thread.join(timeout=5)

