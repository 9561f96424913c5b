"""`evaluate --serve --prometheus` keeps what it fetched between cycles and asks the store only
for what is new: a cycle costs one range request per family over the last interval (plus a
short overlap for late samples), whatever the span and the fleet; the evaluation it gives is the
one a full fetch gives; what falls out of the span is forgotten, so memory follows the span, not
the number of cycles; the state survives a restart in a file. Against a real Prometheus holding
two hosts, one of which leaves."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from alerts import conventions as c
from alerts.spec import load_slos
from collector import openmetrics
from collector import schema as s
from collector import synthetic as syn
from collector.prometheus import QUERIES, PrometheusClient
from collector.rolling import FINE_S, RollingTelemetry
from collector.source import Source
from contracts.codes import Code
from contracts.errors import PluginopsError
from evaluator.plugin import Settings
from evaluator.run import evaluate_source, lookback_s
from pluginops.cli import cli
from stack.processes import free_port, prometheus
from tests.evaluator_support import CONFIG, backfill_openmetrics, prometheus_with_rules
from tests.test_evaluator_agreement import RULES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DAYS = 2
LEAVES_H = 20  # host-b leaves this many hours before `at`
PLUGINOPS = str(Path(sys.executable).parent / "pluginops")


PLUGINS = syn.profiles(2, seed=4)  # a node and a paid integration


def _two_hosts(at: int, days: int = DAYS,
               incidents: tuple[syn.Incident, ...] = ()) -> s.Telemetry:
    fleet = syn.Fleet(at - days * 86400, at, 60, PLUGINS, (
        syn.Incident(PLUGINS[0].name, "errors", at - 3 * 3600, at - 3600, 0.1), *incidents,
    ), seed=9, operations=False)
    one = syn.telemetry(fleet).executions
    parts = []
    for host, share, offset in (("host-a:9400", 0.6, 0), ("host-b:9400", 0.4, 17)):
        frame = one.copy()
        frame[list(s.VALUE_COLUMNS)] = frame[list(s.VALUE_COLUMNS)] * share
        frame[s.TIMESTAMP] = frame[s.TIMESTAMP] + offset * 1000
        frame[s.SERIES] = s.label_text({"instance": host, "job": c.RUNTIME_JOB})
        if host == "host-b:9400":
            frame = frame[frame[s.TIMESTAMP] <= (at - LEAVES_H * 3600) * 1000]
        parts.append(frame)
    return s.Telemetry(s.normalise_executions(pd.concat(parts, ignore_index=True)),
                       s.empty_operations())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("rolling")
    at = (int(time.time()) // 3600 - 3) * 3600
    source = folder / "fleet.om"
    openmetrics.write_file(_two_hosts(at), source)
    backfill_openmetrics(source, folder / "prom" / "tsdb")
    with prometheus(folder / "prom", CONFIG, []) as url:
        yield {"url": url, "at": at, "folder": folder}


def _evaluate(url: str, at: float, rolling: RollingTelemetry | None = None) -> Any:
    slos = load_slos(REPO / "alerts" / "slos")
    return evaluate_source(Source("prometheus", url), slos, Settings(), at,
                           rolling=rolling).evaluation.model_dump()


def _rolling(url: str) -> RollingTelemetry:
    span = lookback_s(load_slos(REPO / "alerts" / "slos"), Settings())
    return RollingTelemetry(PrometheusClient(url), span, 60.0)


def test_a_cycle_fetches_only_what_is_new_and_evaluates_as_a_full_fetch_would(
        store: Any) -> None:
    rolling = _rolling(store["url"])
    earlier, at = store["at"] - 3600, store["at"]
    _evaluate(store["url"], earlier, rolling)
    assert rolling.last.full and rolling.last.requests >= len(QUERIES)
    series = len(rolling.series)  # one host's series, the other's, per family and label set

    assert _evaluate(store["url"], at, rolling) == _evaluate(store["url"], at)
    cost = rolling.last
    assert not cost.full
    assert cost.requests == len(QUERIES)  # one per family, whatever the span and the fleet
    assert cost.start_s == earlier - rolling.settle_s and cost.end_s == at
    # host-b left long ago: only host-a's series have points in the new minutes
    new_instants = int((at - cost.start_s) / 60) + 1
    assert cost.points == series // 2 * new_instants


# With a one-day window, the raw-only figures (anomaly scores, regressions, trends) reach back
# past the hours kept at every step into the hourly part: four days of data are enough.
SHORT = Settings(window="1d", trend_windows=("1d",), history_hours=48)


@pytest.fixture(scope="module")
def recording_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two hosts over four days, with a cost incident and a latency tail in the last day, in a
    Prometheus that also holds the recording rules' values."""
    folder = tmp_path_factory.mktemp("rolling-rules")
    at = (int(time.time()) // 3600 - 3) * 3600
    source = folder / "fleet.om"
    openmetrics.write_file(_two_hosts(at, 4, (
        syn.Incident(PLUGINS[1].name, "cost", at - 5 * 3600, at, 2.5),
        syn.Incident(PLUGINS[0].name, "latency_tail", at - 20 * 3600, at, 0.1),
    )), source)
    with prometheus_with_rules(folder, source, RULES, at - 4 * 86400, at) as (url, at_ms):
        yield {"url": url, "at": at_ms / 1000}


def test_beside_the_rules_old_points_are_kept_hourly_and_the_figures_hold(
        recording_store: Any) -> None:
    """Where the store records the SLO rules, the windows reaching back past a few hours are
    read from it, so the raw series need every step only for the last hours: one point an
    hour is kept before. Every SLO figure is still the ruler's; the figures only raw series
    give (anomaly scores, regressions, trends) stay close to a full-resolution evaluation."""
    url, at = recording_store["url"], recording_store["at"]
    slos = load_slos(REPO / "alerts" / "slos")
    span = lookback_s(slos, SHORT)
    coarse = RollingTelemetry(PrometheusClient(url), span, 60.0, fine_s=FINE_S)
    fine = RollingTelemetry(PrometheusClient(url), span, 60.0)

    def evaluate(rolling: RollingTelemetry) -> Any:
        return evaluate_source(Source("prometheus", url), slos, SHORT, at,
                               rolling=rolling).evaluation.model_dump()

    mine, full = evaluate(coarse), evaluate(fine)
    assert coarse.points * 4 < fine.points
    assert mine["recorded_figures"] == full["recorded_figures"] == 2 * 2 * 9 + 2 * 2
    for ours, theirs in zip(mine["plugins"], full["plugins"], strict=True):
        for slo_ours, slo_theirs in zip(ours["slos"], theirs["slos"], strict=True):
            counts = ("events", "bad_events")  # a series starting in the hourly part loses < 1 h
            assert {k: v for k, v in slo_ours.items() if k not in counts} == \
                {k: v for k, v in slo_theirs.items() if k not in counts}
            for count in counts:
                assert slo_ours[count] == pytest.approx(slo_theirs[count], rel=0.02, abs=1)
        assert ours["latency"] == theirs["latency"]
        assert ours["cost_anomaly_score"] == _approx(theirs["cost_anomaly_score"])
        assert [r["ratio"] for r in ours["latency_regressions"]] == \
            [_approx(r["ratio"]) for r in theirs["latency_regressions"]]
        for figure, trend in theirs["trends"]["1d"].items():
            # the spread of hourly costs per success in a quiet day is the loosest
            rel = 0.15 if figure == "cost_per_success_variance" else 0.01
            for side in ("value", "previous"):
                assert ours["trends"]["1d"][figure][side] == _approx(trend[side], rel), figure
        assert [(a["kind"], a["start"], a["end"]) for a in ours["anomalies"]] == \
            [(a["kind"], a["start"], a["end"]) for a in theirs["anomalies"]]
    anomalous = {p["plugin"]: p["anomalies"] for p in mine["plugins"]}
    assert {a["kind"] for found in anomalous.values() for a in found} == {"cost", "error_ratio"}


def _approx(value: float | None, rel: float = 0.01) -> Any:
    return None if value is None else pytest.approx(value, rel=rel, abs=1e-12)


def test_what_falls_out_of_the_span_is_forgotten(store: Any) -> None:
    """Memory follows the span: six hours of two hosts, then of one once host-b has been gone
    for longer than the span; cycles every ten minutes for a day change nothing else."""
    rolling = RollingTelemetry(PrometheusClient(store["url"]), 6 * 3600, 60.0)
    start = store["at"] - 36 * 3600
    kept = []
    for cycle in range(0, 36 * 6 + 1):
        rolling.refresh(start + cycle * 600)
        kept.append(rolling.points)
    assert not rolling.last.full
    instances = [dict(labels)["instance"] for _, labels in rolling.series]
    series_a = instances.count("host-a:9400")
    assert series_a and "host-b:9400" not in instances  # host-b left 20 hours ago
    assert rolling.points == series_a * (6 * 60 + 1)  # exactly the span, one host
    assert max(kept) == 2 * rolling.points  # both hosts, at most: no growth with cycles


def test_the_state_survives_a_restart(store: Any, tmp_path: Path) -> None:
    state = tmp_path / "evaluator-state.parquet"
    first = _rolling(store["url"])
    first.refresh(store["at"] - 1800)
    first.save(state)

    restarted = _rolling(store["url"])
    assert restarted.load(state)
    assert restarted.end_s == store["at"] - 1800 and restarted.points == first.points
    assert _evaluate(store["url"], store["at"], restarted) == _evaluate(store["url"],
                                                                          store["at"])
    assert not restarted.last.full and restarted.last.requests == len(QUERIES)

    elsewhere = RollingTelemetry(PrometheusClient("http://127.0.0.1:1"), first.span_s, 60.0)
    assert not elsewhere.load(state)  # another store's state is not taken
    assert elsewhere.points == 0 and elsewhere.end_s is None

    state.write_bytes(b"not parquet")
    with pytest.raises(PluginopsError) as refused:
        _rolling(store["url"]).load(state)
    assert refused.value.code == Code.STATE_FILE_INVALID


def test_state_is_refused_without_serve_against_a_store(tmp_path: Path) -> None:
    om = tmp_path / "empty.om"
    om.write_text("# EOF\n")
    done = CliRunner().invoke(cli, ["evaluate", "--openmetrics", str(om), "--state",
                                    str(tmp_path / "state.parquet")])
    assert done.exit_code == 2 and Code.STATE_FILE_INVALID in done.output
    assert not (tmp_path / "state.parquet").exists()


def test_serve_fetches_what_is_new_each_cycle_and_keeps_its_state_over_sigterm(
        store: Any, tmp_path: Path) -> None:
    state = tmp_path / "state.parquet"
    port = free_port()
    command = [PLUGINOPS, "evaluate", "--serve", "--prometheus", store["url"], "--at",
               str(store["at"]), "--listen", f"127.0.0.1:{port}", "--interval", "0.2",
               "--state", str(state)]
    log = tmp_path / "serve.log"
    with log.open("w") as err:
        process = subprocess.Popen(command, stderr=err, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while "(what is new)" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert text.count("(the whole span)") == 1 and "(what is new)" in text
    assert f"fetched 0 points in {len(QUERIES)} requests" not in text  # the overlap is re-read
    restarted = _rolling(store["url"])
    assert restarted.load(state) and restarted.end_s == store["at"]
