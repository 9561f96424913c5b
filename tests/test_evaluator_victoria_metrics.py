"""Against VictoriaMetrics, a Prometheus-compatible store whose `rate()` is not Prometheus'
(MetricsQL does not extrapolate to the window's edges), the evaluator says what the store's ruler
recorded. The fleet of the Prometheus agreement test (three offset hosts, a restart, a departure,
an update, a one-host plugin) goes through vmagent into Debian's `victoria-metrics`; vmalert
evaluates the committed recording rules over it; `evaluate --prometheus` against the store reads
every SLO figure the rules record and matches the ruler exactly."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from alerts.spec import load_slos
from collector import openmetrics
from collector.source import Source
from evaluator.plugin import Settings
from evaluator.run import evaluate_source
from tests.test_evaluator_agreement import DAYS, RULES
from tests.test_evaluator_fleet_agreement import ONE_HOST_PLUGIN, disagreements, fleet_telemetry
from tests.victoria_support import victoria_metrics_with_rules

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("victoria-metrics")
    at = (int(time.time()) // 3600 - 4) * 3600
    source = folder / "fleet.om"
    openmetrics.write_file(fleet_telemetry(at), source)
    with victoria_metrics_with_rules(folder, source, RULES, at - DAYS * 86400, at) as url:
        yield {"url": url, "at": float(at), "openmetrics": source}


def test_the_evaluator_reads_what_the_store_ruler_recorded(store: Any) -> None:
    slos = load_slos(REPO / "alerts" / "slos")
    live = evaluate_source(Source("prometheus", store["url"]), slos, Settings(),
                           store["at"]).evaluation
    assert {p.plugin for p in live.plugins} == {"billing-node", "research-agent",
                                                ONE_HOST_PLUGIN}
    # 3 plugins x 2 SLOs x (7 windows + the period + the budget) + 3 plugins x (p95, p99)
    assert live.recorded_figures == 3 * 2 * 9 + 3 * 2
    assert disagreements(store["url"], store["at"], live) == []


def test_the_store_rate_is_not_prometheus_so_recomputing_would_disagree(store: Any) -> None:
    """Why the recorded series are read: the same samples give other short-window ratios through
    MetricsQL than through Prometheus' extrapolating rate (which the evaluator reproduces), yet
    the long windows, where the edges weigh little, are the same quantities. (Which window under
    a day differs depends on the hour the fleet ends at: a window without a failure is 0 both
    ways; the lint-gate outage of the last hour and the background errors over 6 hours, some
    sixteen of them, keep the windows from 1 to 6 hours from being error-free.)
    """
    slos = load_slos(REPO / "alerts" / "slos")
    computed = evaluate_source(Source("openmetrics", str(store["openmetrics"])), slos,
                               Settings(), store["at"]).evaluation
    wrong = disagreements(store["url"], store["at"], computed)
    assert any(w[1] in ("5m", "30m", "1h", "2h", "6h") for w in wrong), wrong
    for plugin, window, _, mine, theirs in (w for w in wrong if len(w) == 5):
        if window in ("1d", "3d", "period"):
            assert mine == pytest.approx(theirs, rel=0.02, abs=1e-4), (plugin, window)
