"""The evaluator agrees with the recording rules on a fleet, not only on one host: three runtime
hosts scraped 0 s, 7 s and 23 s past the minute, one of which restarts (its counters fall back to
zero) and one of which leaves hours before the evaluation; an update inside the short windows
(two version series of one plugin on one host); a plugin that runs on one host only. The same
file is backfilled into a real Prometheus that evaluates the committed rules; the evaluator reads
the file, its Parquet cache, and Prometheus (where it reads the recorded series). Every window's
error ratio and burn rate, every budget and p95/p99 agree within 1e-6 relative at the rule
instant.

And the agreement is not an accident of the data: summing the hosts' counters before taking
rates, as the evaluator once did, misses by far more than the tolerance."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from alerts import conventions as c
from alerts.spec import load_slos
from collector import openmetrics, parquet
from collector import schema as s
from collector import synthetic as syn
from collector.source import Source
from evaluator.plugin import Settings
from evaluator.run import evaluate_source
from tests.evaluator_support import instant, prometheus_with_rules
from tests.test_evaluator_agreement import DAYS, RULES, _close, _fleet

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# host -> (scrape offset past the minute, share of each plugin's traffic)
HOSTS = {"host-a:9400": (0, 0.5), "host-b:9400": (7, 0.3), "host-c:9400": (23, 0.2)}
ONE_HOST_PLUGIN = "lint-gate"  # runs on host-a only
UPDATED_PLUGIN = "billing-node"  # host-a moves it from 1.0.0 to 1.1.0 40 minutes before `at`


def _host_frame(plugin_frame: pd.DataFrame, host: str, share: float, offset_s: int, at: int
                ) -> pd.DataFrame:
    """This host's part of one plugin's counters, scraped `offset_s` after the minute, with the
    events of each restart, departure and update applied to its own series only."""
    frame = plugin_frame.copy()
    plugin = str(frame[s.PLUGIN].iat[0])
    frame[list(s.VALUE_COLUMNS)] = frame[list(s.VALUE_COLUMNS)] * share
    frame[s.TIMESTAMP] = frame[s.TIMESTAMP] + offset_s * 1000
    frame[s.SERIES] = s.label_text({"instance": host, "job": c.RUNTIME_JOB,
                                    "version": "1.0.0"})
    ts = frame[s.TIMESTAMP]
    if host == "host-b:9400":  # restarts 30 hours before `at`: its counters start again at 0
        restart = (at - 30 * 3600) * 1000
        before = frame[ts < restart].iloc[-1]
        after = ts >= restart
        for column in s.VALUE_COLUMNS:
            frame.loc[after, column] = frame.loc[after, column] - before[column]
    if host == "host-c:9400":  # leaves 10 hours before `at`: its series just stop
        frame = frame[ts <= (at - 10 * 3600) * 1000]
    if host == "host-a:9400" and plugin == UPDATED_PLUGIN:
        update = (at - 40 * 60) * 1000
        new = frame[frame[s.TIMESTAMP] >= update].copy()
        base = frame[frame[s.TIMESTAMP] < update].iloc[-1]
        for column in s.VALUE_COLUMNS:  # the new version's process counts from zero
            new[column] = new[column] - base[column]
        new[s.SERIES] = s.label_text({"instance": host, "job": c.RUNTIME_JOB,
                                      "version": "1.1.0"})
        frame = pd.concat([frame[frame[s.TIMESTAMP] < update], new])
    return frame


def fleet_telemetry(at: int) -> s.Telemetry:
    single = syn.telemetry(_fleet(at))
    parts = []
    for plugin, frame in single.executions.groupby(s.PLUGIN, sort=True):
        for host, (offset, share) in HOSTS.items():
            if plugin == ONE_HOST_PLUGIN:
                if host != "host-a:9400":
                    continue
                share = 1.0
            parts.append(_host_frame(frame, host, share, offset, at))
    executions = s.normalise_executions(pd.concat(parts, ignore_index=True))
    assert executions[s.SERIES].nunique() == 4  # three hosts, and the new version on one
    return s.Telemetry(executions, single.operations)


def summed_counters(telemetry: s.Telemetry) -> s.Telemetry:
    """What the evaluator used to read: every plugin's series summed as counters at equal
    timestamps, before any rate."""
    frame = telemetry.executions.groupby([s.PLUGIN, s.PLUGIN_TYPE, s.TIMESTAMP],
                                         as_index=False)[list(s.VALUE_COLUMNS)].sum(min_count=1)
    frame[s.SERIES] = ""
    return s.Telemetry(s.normalise_executions(frame), telemetry.operations)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("fleet-agreement")
    at = (int(time.time()) // 3600 - 4) * 3600
    telemetry = fleet_telemetry(at)
    source = folder / "fleet.om"
    openmetrics.write_file(telemetry, source)
    cache = folder / "cache"
    parquet.write(telemetry, cache, {"source": "fleet"})
    with prometheus_with_rules(folder, source, RULES, at - DAYS * 86400, at) as (url, at_ms):
        # promtool's last rule instant before `at`: within two intervals (its group offset)
        assert 0 <= at * 1000 - at_ms < 120_000
        yield {"url": url, "at": at_ms / 1000, "telemetry": telemetry, "openmetrics": source,
               "parquet": cache, "folder": folder}


def _recorded(url: str, name: str, at: float) -> dict[tuple[str, str], float]:
    return {(r["metric"]["plugin"], r["metric"].get(c.SLO, "")): float(r["value"][1])
            for r in instant(url, name, at)}


def disagreements(url: str, at: float, evaluation: Any) -> list[tuple[Any, ...]]:
    """Every figure that differs from Prometheus' rules by more than 1e-6 relative."""
    wrong: list[tuple[Any, ...]] = []
    compared = 0
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        ratios = _recorded(url, c.error_ratio(window), at)
        burns = _recorded(url, c.burn_rate(window), at)
        for plugin in evaluation.plugins:
            for slo in plugin.slos:
                key = (plugin.plugin, slo.slo)
                mine = slo.windows[window]
                compared += 1
                if not _close(mine.error_ratio, ratios[key]):
                    wrong.append((key, window, "error ratio", mine.error_ratio, ratios[key]))
                if not _close(mine.burn_rate, burns[key]):
                    wrong.append((key, window, "burn rate", mine.burn_rate, burns[key]))
    budgets = _recorded(url, c.BUDGET_REMAINING, at)
    for plugin in evaluation.plugins:
        for slo in plugin.slos:
            key = (plugin.plugin, slo.slo)
            if not _close(slo.budget_remaining, budgets[key]):
                wrong.append((key, "period", "budget", slo.budget_remaining, budgets[key]))
    for name, attribute in ((c.LATENCY_P95, "p95"), (c.LATENCY_P99, "p99")):
        recorded = {k[0]: v for k, v in _recorded(url, name, at).items()}
        for plugin in evaluation.plugins:
            mine = getattr(plugin.latency, attribute)
            if not _close(mine, recorded[plugin.plugin]):
                wrong.append((plugin.plugin, attribute, mine, recorded[plugin.plugin]))
    assert compared == 42
    return wrong


@pytest.mark.parametrize("kind", ["openmetrics", "parquet"])
def test_the_evaluator_agrees_with_the_rules_on_a_fleet(fleet: Any, kind: str) -> None:
    slos = load_slos(REPO / "alerts" / "slos")
    evaluation = evaluate_source(Source(kind, str(fleet[kind])), slos, Settings(),
                                 fleet["at"]).evaluation
    assert disagreements(fleet["url"], fleet["at"], evaluation) == []
    # the incidents make the comparison mean something: their windows are not error-free (the
    # background errors, at a few in ten thousand, fall in a 5-minute window or not, by the hour)
    ratios = {(p.plugin, slo.slo, w): slo.windows[w].error_ratio for p in evaluation.plugins
              for slo in p.slos for w in ("5m", "1h", "1d")}
    for key in (("billing-node", c.AVAILABILITY, "1d"), ("lint-gate", c.AVAILABILITY, "1h"),
                ("lint-gate", c.AVAILABILITY, "1d")):
        assert ratios[key], key


def test_through_prometheus_the_evaluator_reads_what_the_rules_recorded(fleet: Any) -> None:
    """Against the store, the figures the rules record are read, not recomputed: exact, although
    the API hands the raw series back on its step grid rather than at their scrape instants."""
    slos = load_slos(REPO / "alerts" / "slos")
    live = evaluate_source(Source("prometheus", fleet["url"]), slos, Settings(),
                           fleet["at"]).evaluation
    assert {p.plugin for p in live.plugins} == {"billing-node", "research-agent",
                                                ONE_HOST_PLUGIN}
    assert disagreements(fleet["url"], fleet["at"], live) == []
    # 3 plugins x 2 SLOs x (7 windows + the period + the budget) + 3 plugins x (p95, p99)
    assert live.recorded_figures == 3 * 2 * 9 + 3 * 2


def test_summing_the_hosts_counters_before_rates_would_fail_this_test(fleet: Any) -> None:
    slos = load_slos(REPO / "alerts" / "slos")
    naive = fleet["folder"] / "summed.om"
    openmetrics.write_file(summed_counters(fleet["telemetry"]), naive)
    evaluation = evaluate_source(Source("openmetrics", str(naive)), slos, Settings(),
                                 fleet["at"]).evaluation
    wrong = disagreements(fleet["url"], fleet["at"], evaluation)
    assert len(wrong) >= 10, wrong
    worst = max(abs(w[-2] - w[-1]) / max(abs(w[-1]), 1e-9) for w in wrong
                if isinstance(w[-2], float) and isinstance(w[-1], float))
    assert worst > 0.05  # not a rounding difference: whole windows are wrong
