"""The evaluator and the recording rules compute the same numbers from the same samples
(docs/architecture.md): one synthetic OpenMetrics file is backfilled into a real Prometheus,
which evaluates the committed rules (alerts/generated/rules.yml) through promtool; the evaluator
reads the file.
Burn rates, error ratios, budgets and latency quantiles agree within 1e-6 relative."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alerts import conventions as c
from alerts.spec import load_slos
from collector import openmetrics
from collector import schema as s
from collector import synthetic as syn
from collector.prometheus import PrometheusClient, collect
from collector.source import Source
from evaluator.plugin import Settings
from evaluator.run import evaluate_source
from tests.evaluator_support import instant, prometheus_with_rules

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "alerts" / "generated" / "rules.yml"
DAYS = 4
RELATIVE = 1e-6


def _close(mine: float | None, theirs: float) -> bool:
    if mine is None:
        return False
    return math.isclose(mine, theirs, rel_tol=RELATIVE, abs_tol=1e-12)


def _fleet(at: int) -> syn.Fleet:
    start = at - DAYS * 86400
    base = syn.profiles(3, seed=5)
    plugins = (
        syn.PluginProfile("billing-node", "node", 1.5, 0.0005, 0.05, 0.5, 0.0, 0.0),
        syn.PluginProfile("research-agent", "agent", 0.8, 0.0004, 0.3, 0.6, 0.004, 900.0),
        syn.PluginProfile("lint-gate", "quality_gate", 0.5, 0.0003, 0.2, 0.5, 0.0, 0.0),
    )
    assert len(base) == len(plugins)
    return syn.Fleet(start, at, 60, plugins, (
        syn.Incident("billing-node", "errors", at - 86400, at - 86400 + 7200, 0.2),
        syn.Incident("research-agent", "latency_tail", at - 6 * 3600, at, 0.2),
        syn.Incident("lint-gate", "outage", at - 50 * 60, at - 20 * 60, 1.0),
    ), seed=11, operations=False)


def _with_reset_and_gap(telemetry: s.Telemetry, at: int) -> s.Telemetry:
    """billing-node restarts 30 hours before `at` (its counters fall back to zero); lint-gate
    is not scraped for an hour two days before `at`."""
    frame = telemetry.executions.copy()
    ts = frame[s.TIMESTAMP]
    node = frame[s.PLUGIN] == "billing-node"
    reset_ms = (at - 30 * 3600) * 1000
    before = frame[node & (ts < reset_ms)].iloc[-1]
    after = node & (ts >= reset_ms)
    for column in s.VALUE_COLUMNS:
        frame.loc[after, column] = frame.loc[after, column] - before[column]
    gap = (frame[s.PLUGIN] == "lint-gate") & (ts > (at - 2 * 86400) * 1000) & \
        (ts <= (at - 2 * 86400 + 3600) * 1000)
    frame = frame[~gap].reset_index(drop=True)
    assert (frame.loc[frame[s.PLUGIN] == "billing-node", s.SUCCESS_COLUMN].diff() < 0).any()
    return s.Telemetry(frame, telemetry.operations)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("agreement")
    at = (int(time.time()) // 3600 - 4) * 3600  # whole hours, inside Prometheus' retention
    telemetry = _with_reset_and_gap(syn.telemetry(_fleet(at)), at)
    source = folder / "fleet.om"
    openmetrics.write_file(telemetry, source, {"job": c.RUNTIME_JOB, "instance": "host-1:9400"})
    with prometheus_with_rules(folder, source, RULES, at - DAYS * 86400, at) as (url, at_ms):
        # promtool's last rule instant before `at`: within two intervals (its group offset)
        assert 0 <= at * 1000 - at_ms < 120_000
        yield url, source, at_ms / 1000


@pytest.fixture(scope="module")
def evaluation(stack):  # type: ignore[no-untyped-def]
    _, source, at = stack
    slos = load_slos(REPO / "alerts" / "slos")
    return evaluate_source(Source("openmetrics", str(source)), slos, Settings(), at).evaluation


def _recorded(url: str, name: str, at: float) -> dict[tuple[str, str], float]:
    return {(r["metric"]["plugin"], r["metric"].get(c.SLO, "")): float(r["value"][1])
            for r in instant(url, name, at)}


def test_error_ratios_and_burn_rates_agree_at_every_window(stack, evaluation) -> None:  # type: ignore[no-untyped-def]
    url, _, at = stack
    compared = 0
    for slo_window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        ratios = _recorded(url, c.error_ratio(slo_window), at)
        burns = _recorded(url, c.burn_rate(slo_window), at)
        assert len(ratios) == 6, f"{slo_window}: Prometheus recorded {sorted(ratios)}"
        for plugin in evaluation.plugins:
            for slo in plugin.slos:
                mine = slo.windows[slo_window]
                theirs = ratios[(plugin.plugin, slo.slo)]
                assert _close(mine.error_ratio, theirs), \
                    (plugin.plugin, slo.slo, slo_window, mine.error_ratio, theirs)
                assert _close(mine.burn_rate, burns[(plugin.plugin, slo.slo)]), \
                    (plugin.plugin, slo.slo, slo_window, mine.burn_rate)
                compared += 1
    # The incidents make the comparison meaningful: their windows are not error-free (the
    # background errors, a few in ten thousand, fall in a short window or not, by the hour)
    assert compared == 42
    ratios = {(p.plugin, s.slo, w): s.windows[w].error_ratio for p in evaluation.plugins
              for s in p.slos for w in ("1h", "1d", "3d")}
    for key in (("billing-node", c.AVAILABILITY, "1d"), ("billing-node", c.AVAILABILITY, "3d"),
                ("lint-gate", c.AVAILABILITY, "1h"), ("lint-gate", c.AVAILABILITY, "1d"),
                ("lint-gate", c.AVAILABILITY, "3d")):
        assert ratios[key], key


def test_period_budgets_agree(stack, evaluation) -> None:  # type: ignore[no-untyped-def]
    url, _, at = stack
    periods = _recorded(url, c.PERIOD_ERROR_RATIO, at)
    budgets = _recorded(url, c.BUDGET_REMAINING, at)
    objectives = _recorded(url, c.OBJECTIVE, at)
    for plugin in evaluation.plugins:
        for slo in plugin.slos:
            key = (plugin.plugin, slo.slo)
            assert _close(slo.windows[slo.period].error_ratio, periods[key]), key
            assert _close(slo.budget_remaining, budgets[key]), (key, slo.budget_remaining,
                                                                budgets[key])
            assert slo.objective == objectives[key]
    research = next(p for p in evaluation.plugins if p.plugin == "research-agent")
    assert {s.objective for s in research.slos} != {0.999}, "the override's objectives apply"
    billing = next(p for p in evaluation.plugins if p.plugin == "billing-node")
    assert billing.slos[0].budget_remaining is not None and billing.slos[0].budget_remaining < 0


def test_latency_quantiles_agree_with_histogram_quantile(stack, evaluation) -> None:  # type: ignore[no-untyped-def]
    url, _, at = stack
    for name, attribute in ((c.LATENCY_P95, "p95"), (c.LATENCY_P99, "p99")):
        recorded = {k[0]: v for k, v in _recorded(url, name, at).items()}
        assert len(recorded) == 3
        for plugin in evaluation.plugins:
            assert _close(getattr(plugin.latency, attribute), recorded[plugin.plugin]), \
                (plugin.plugin, attribute)


def test_collector_reads_the_same_samples_from_the_prometheus_api(stack, evaluation) -> None:  # type: ignore[no-untyped-def]
    url, source, at = stack
    end = math.ceil(at / 60) * 60  # the samples' own minute grid
    client = PrometheusClient(url)
    from_api = collect(client, end - DAYS * 86400, end, 60)
    from_file = openmetrics.read(source)
    # 5,761 points per series: each query is split under Prometheus' 11,000-point limit only
    # when it has to be; 9 queries for the 9 metric families here.
    assert client.requests == 9
    for plugin in ("billing-node", "research-agent"):  # lint-gate has a gap the API fills
        api = from_api.executions[from_api.executions[s.PLUGIN] == plugin].reset_index(drop=True)
        om = from_file.executions[from_file.executions[s.PLUGIN] == plugin].reset_index(
            drop=True)
        assert np.array_equal(api[s.TIMESTAMP], om[s.TIMESTAMP])
        pd.testing.assert_frame_equal(api[list(s.VALUE_COLUMNS)], om[list(s.VALUE_COLUMNS)],
                                      check_exact=False, rtol=1e-12)


def test_evaluating_through_the_prometheus_api_gives_the_files_figures(stack, evaluation) -> None:  # type: ignore[no-untyped-def]
    url, _, at = stack
    slos = load_slos(REPO / "alerts" / "slos")
    live = evaluate_source(Source("prometheus", url), slos, Settings(), at).evaluation
    by_name = {p.plugin: p for p in live.plugins}
    for plugin in evaluation.plugins:
        if plugin.plugin == "lint-gate":
            continue
        for mine, theirs in zip(plugin.slos, by_name[plugin.plugin].slos, strict=True):
            for window, figures in mine.windows.items():
                assert _close(theirs.windows[window].error_ratio, figures.error_ratio or 0.0), \
                    (plugin.plugin, mine.slo, window)
