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
from collector.rolling import RollingTelemetry
from collector.source import Source
from contracts.codes import Code
from contracts.errors import PluginopsError
from evaluator.plugin import Settings
from evaluator.run import evaluate_source, lookback_s
from pluginops.cli import cli
from stack.processes import free_port, prometheus
from tests.evaluator_support import CONFIG, backfill_openmetrics

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DAYS = 2
LEAVES_H = 20  # host-b leaves this many hours before `at`
PLUGINOPS = str(Path(sys.executable).parent / "pluginops")


def _two_hosts(at: int) -> s.Telemetry:
    fleet = syn.Fleet(at - DAYS * 86400, at, 60, syn.profiles(2, seed=4), (
        syn.Incident(syn.profiles(2, seed=4)[0].name, "errors", at - 3 * 3600, at - 3600, 0.1),
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
