"""`pluginops evaluate --serve`: evaluate on a schedule and export the results for Prometheus
(the `PluginCostAnomaly` alert and the dashboards read them). Each cycle replaces the whole set
of series at once, so a scrape never sees half of one evaluation, and a plugin that disappeared
stops being exported."""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from contracts.catalogue import (
    COST_ANOMALY_SCORE,
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
        for r in p.latency_regressions:
            if r.ratio is not None:
                regression.add_metric([p.plugin, p.plugin_type, f"p{round(r.quantile * 100)}"],
                                      r.ratio)
    return [budget, burn, score, regression]


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
                                           COST_ANOMALY_SCORE, LATENCY_REGRESSION_RATIO)]


def serve(evaluate: Callable[[], Evaluation], host: str, port: int, interval_s: float,
          log: Callable[[str], None]) -> None:
    """Evaluate now and every `interval_s` until SIGTERM or SIGINT; a failed cycle keeps the
    previous results exported and is logged."""
    registry = CollectorRegistry()
    latest = LatestEvaluation()
    registry.register(latest)
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
            try:
                evaluation = evaluate()
                latest.publish(evaluation)
                log(f"evaluated {len(evaluation.plugins)} plugins at {evaluation.at}")
            except Exception as exc:
                log(f"evaluation failed, keeping the previous results: {exc}")
            stop.wait(interval_s)
    finally:
        server.shutdown()
        thread.join(timeout=5)

