"""`pluginops collect`, `evaluate` and `report weekly` as users run them: one source, JSON on
stdout, progress on stderr, a report that matches its published schema, charts that are PNGs,
and structured errors that leave nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from alerts import conventions as c
from alerts.rules import COST_Z
from alerts.spec import load_slos
from collector import openmetrics, parquet
from collector import synthetic as syn
from collector.source import Source
from contracts.catalogue import (
    EVALUATOR_CYCLE_DURATION,
    EVALUATOR_CYCLES,
    EVALUATOR_INTERVAL,
    EVALUATOR_LAST_SUCCESS,
    EVALUATOR_PLUGINS,
    EVALUATOR_STALE,
)
from contracts.codes import Code
from contracts.kpis import KPIS, Kpi
from contracts.layout import Layout
from evaluator.plugin import Settings
from evaluator.results import Evaluation
from evaluator.run import evaluate_source
from evaluator.service import families
from evaluator.shard import Shard
from pluginops.cli import cli
from runtime.install.journal import Journal
from runtime.kpi import drills
from runtime.kpi.facts import Incident
from tests.conftest import REPO
from tests.promtool_support import run_promtool

AT = 1_790_006_400
PLUGINOPS = str(Path(sys.executable).parent / "pluginops")
PNG = b"\x89PNG\r\n\x1a\n"


def _fleet() -> syn.Fleet:
    plugins = syn.profiles(6, seed=3)
    return syn.Fleet(AT - 15 * 86400, AT, 60, plugins, (
        syn.Incident(plugins[1].name, "cost", AT - 30 * 3600, AT - 26 * 3600, 3.0),
        syn.Incident(plugins[0].name, "errors", AT - 50 * 3600, AT - 48 * 3600, 0.1),
    ), seed=8)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cache") / "fleet"
    parquet.write(syn.telemetry(_fleet()), folder, {"start": AT - 15 * 86400, "end": AT})
    return folder


@pytest.fixture(scope="module")
def om_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fleet = _fleet()
    small = syn.Fleet(AT - 2 * 86400, AT, 60, fleet.plugins[:2], seed=8)
    path = tmp_path_factory.mktemp("om") / "fleet.om"
    openmetrics.write_file(syn.telemetry(small), path)
    return path


def test_evaluate_prints_one_json_document_with_the_designed_fields(
        runner: CliRunner, cache: Path) -> None:
    result = runner.invoke(cli, ["evaluate", "--parquet", str(cache), "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["at"] == "2026-09-21T16:00:00Z"  # the end of the cached data
    assert document["data_end"] == document["at"] and document["stale"] is False
    first = document["plugins"][0]
    assert set(first) >= {"plugin", "plugin_type", "slos", "latency", "cost_per_success_usd",
                          "anomalies", "previous_window"}
    availability = first["slos"][0]
    assert availability["slo"] == "availability" and availability["period"] == "30d"
    assert set(availability["windows"]) == {"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"}
    assert set(availability["windows"]["1h"]) == {"error_ratio", "burn_rate"}
    schema = json.loads((REPO / "schemas" / "evaluation.schema.json").read_text())
    jsonschema.validate(document, schema)
    costly = [p for p in document["plugins"] if any(a["kind"] == "cost" for a in p["anomalies"])]
    assert [p["plugin"] for p in costly] == [_fleet().plugins[1].name]


def test_shards_partition_the_fleet_and_agree_with_one_unsharded_run(
        runner: CliRunner, cache: Path) -> None:
    def run(*extra: str) -> dict[str, Any]:
        done = runner.invoke(cli, ["evaluate", "--parquet", str(cache), "--format", "json",
                                   "--workers", "1", *extra])
        assert done.exit_code == 0, done.output
        return dict(json.loads(done.stdout))

    whole = {p["plugin"]: p for p in run()["plugins"]}
    shards = [run("--shard", f"{k}/3") for k in range(3)]
    owned = [{p["plugin"] for p in shard["plugins"]} for shard in shards]
    assert set().union(*owned) == set(whole)
    assert sum(len(o) for o in owned) == len(whole)  # each plugin in exactly one shard
    assert sorted(len(o) for o in owned) == [0, 3, 3]  # a shard may own nothing: still a run
    for shard, k in zip(shards, range(3), strict=True):
        assert shard["shard"] == f"{k}/3"
        for plugin in shard["plugins"]:
            assert plugin == whole[plugin["plugin"]]
    refused = runner.invoke(cli, ["evaluate", "--parquet", str(cache), "--shard", "3/3"])
    assert refused.exit_code == 2 and "SHARD_INVALID" in refused.output


def _labels(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def test_the_fleet_roll_up_rules_over_shard_replicas_equal_one_unsharded_run(
        cache: Path, tmp_path: Path) -> None:
    """Three replicas, `--shard 0/3`..`2/3`, each export their plugins' gauges; the generated
    roll-up rules, run by Prometheus' engine over the three, give the fleet of one unsharded
    evaluation."""
    slos = [replace(slo, objective=0.9995) if slo.kind == c.AVAILABILITY else slo
            for slo in load_slos(REPO / "alerts" / "slos")]  # strict enough to breach

    def evaluate(shard: Shard | None) -> Evaluation:
        return evaluate_source(Source("parquet", str(cache)), slos, Settings(), None,
                               workers=1, shard=shard).evaluation

    series: dict[str, str] = {}
    for k in range(3):
        shard = evaluate(Shard(k, 3))
        instance = {"instance": f"evaluator-{k}:9500"}
        series[_labels(EVALUATOR_PLUGINS.name, instance)] = f"{len(shard.plugins)}x2"
        for family in families(shard):
            for sample in family.samples:
                series[_labels(sample.name, {**sample.labels, **instance})] = \
                    " ".join([repr(sample.value)] * 3)
    whole = evaluate(None)
    assert whole.fleet.slo_breached >= 1 and whole.fleet.slo_compliant >= 1

    def expect(name: str, value: float, **labels: str) -> dict[str, Any]:
        return {"labels": _labels(name, labels), "value": value}

    budgets: dict[str, list[float]] = {}
    burns: dict[tuple[str, str], list[float]] = {}
    for plugin in whole.plugins:
        for slo in plugin.slos:
            if slo.budget_remaining is not None:
                budgets.setdefault(slo.slo, []).append(slo.budget_remaining)
            for window, figures in slo.windows.items():
                if figures.burn_rate is not None:
                    burns.setdefault((slo.slo, window), []).append(figures.burn_rate)
    anomalous = sum(1 for p in whole.plugins if (p.cost_anomaly_score or 0) > COST_Z)
    checks = [
        {"expr": c.FLEET_PLUGINS_EVALUATED, "eval_time": "1m",
         "exp_samples": [expect(c.FLEET_PLUGINS_EVALUATED, len(whole.plugins))]},
        {"expr": c.FLEET_PLUGINS_COMPLIANT, "eval_time": "1m",
         "exp_samples": [expect(c.FLEET_PLUGINS_COMPLIANT, whole.fleet.slo_compliant)]},
        {"expr": c.FLEET_PLUGINS_BREACHED, "eval_time": "1m",
         "exp_samples": [expect(c.FLEET_PLUGINS_BREACHED, whole.fleet.slo_breached)]},
        {"expr": c.FLEET_BUDGET_REMAINING, "eval_time": "1m",
         "exp_samples": [expect(c.FLEET_BUDGET_REMAINING, min(v), slo=k)
                         for k, v in budgets.items()]},
        {"expr": c.FLEET_BURN_RATE, "eval_time": "1m",
         "exp_samples": [expect(c.FLEET_BURN_RATE, max(v), slo=k[0], window=k[1])
                         for k, v in burns.items()]},
        {"expr": c.FLEET_COST_ANOMALIES, "eval_time": "1m",
         "exp_samples": [expect(c.FLEET_COST_ANOMALIES, anomalous)]},
    ]
    done = run_promtool(tmp_path, "1m", series, checks)
    assert done.returncode == 0, done.stdout + done.stderr


def test_evaluate_reads_openmetrics_at_a_given_instant(runner: CliRunner, om_file: Path) -> None:
    result = runner.invoke(cli, ["evaluate", "--openmetrics", str(om_file), "--at",
                                 "2026-09-21T12:00:00Z", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["at"] == "2026-09-21T12:00:00Z"
    assert len(document["plugins"]) == 2
    # the file goes on for four more hours: these figures are older than the source's data
    assert document["data_end"] == "2026-09-21T16:00:00Z" and document["stale"] is True
    assert all(p["latency"]["p95"] for p in document["plugins"])


def _home_with_known_kpis(home: Path) -> None:
    """Installs refused for their version: two in the 30 days before the last 30, one in the
    last 30; a drill whose page took 70 s, nine days before the report's end."""
    journal = Journal(Layout(home).journal)
    for days in (40, 50, 5):
        journal.refuse("future", "install", Code.NO_COMPATIBLE_VERSION, "none runs on this host",
                       AT - days * 86400)
    journal.close()
    drills.record(Layout(home).drills_db, [
        Incident("d1", "error-spike", c.AVAILABILITY_BURN, AT - 9 * 86400, 70.0)])


def test_weekly_report_writes_both_files_and_its_charts_from_one_command(
        tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "week"
    home = tmp_path / "home"
    _home_with_known_kpis(home)
    done = subprocess.run([PLUGINOPS, "report", "weekly", "--home", str(home),
                           "--parquet", str(cache), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "evaluating parquet:" in done.stderr and "drawing charts" in done.stderr
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, json.loads(
        (REPO / "schemas" / "weekly-report.schema.json").read_text()))
    markdown = (out / "report.md").read_text()
    for heading in ("## Fleet summary", "## Week over week", "## SLO compliance",
                    "## Budget burn", "## Top failing", "## Top costly", "## Anomalies",
                    "## Latency regressions", "## Installs and rollbacks",
                    "## Policy denials", "## KPI scorecard"):
        assert heading in markdown
    for name, file in report["charts"].items():
        assert (out / file).read_bytes().startswith(PNG), name
        assert f"]({file})" in markdown
    assert report["anomalies"][0]["kind"] in ("cost", "error_ratio")
    assert report["anomalies"][0]["plugin"] in {p.name for p in _fleet().plugins[:2]}
    assert report["rollbacks"] and report["installs"] and report["policy_denials"]
    assert set(report["week_over_week"]) >= {"availability", "cost_usd", "p95"}
    scorecard = {k["name"]: k for k in report["scorecard"]}
    assert set(scorecard) == {k.name for k in KPIS}
    mismatch = scorecard[Kpi.VERSION_MISMATCH_FAILURES]
    assert (mismatch["current"], mismatch["previous"], mismatch["status"]) == (1.0, 2.0, "missed")
    assert mismatch["change"] == pytest.approx(-0.5)
    assert scorecard[Kpi.MTTD]["current"] == 70.0
    assert "| preflight | Install failures caused by version mismatch | 1 | 2 | -50% | -60% " \
           "against the previous 30 days | missed | NO_COMPATIBLE_VERSION 1 |" in markdown
    assert report["charts"][f"kpi:{Kpi.MTTD}"] == f"kpi-{Kpi.MTTD}.png"
    history = report["kpi_history"][Kpi.VERSION_MISMATCH_FAILURES]
    assert len(history) == 12 and history[-1]["value"] == 1.0 and history[-1]["goal"] == \
        pytest.approx(0.8)


def test_collect_copies_a_source_into_a_cache_that_evaluates_the_same(
        runner: CliRunner, tmp_path: Path, om_file: Path) -> None:
    out = tmp_path / "cache"
    result = runner.invoke(cli, ["collect", "--openmetrics", str(om_file), "--start",
                                 str(AT - 2 * 86400), "--end", str(AT), "--out", str(out)])
    assert result.exit_code == 0, result.output
    direct = runner.invoke(cli, ["evaluate", "--openmetrics", str(om_file), "--at", str(AT),
                                 "--format", "json"])
    cached = runner.invoke(cli, ["evaluate", "--parquet", str(out), "--at", str(AT),
                                 "--format", "json"])
    mine, theirs = json.loads(direct.stdout), json.loads(cached.stdout)
    assert mine["plugins"] == theirs["plugins"]


@pytest.mark.parametrize(("args", "code"), [
    (["evaluate"], "SOURCE_REQUIRED"),
    (["evaluate", "--parquet", "/nonexistent"], "SOURCE_UNREADABLE"),
    (["evaluate", "--openmetrics", "{om}", "--parquet", "{om}"], "SOURCE_REQUIRED"),
    (["evaluate", "--openmetrics", "{om}", "--at", "yesterday"], "TIME_INVALID"),
    (["evaluate", "--openmetrics", "{om}", "--window", "a week"], "WINDOW_INVALID"),
    (["evaluate", "--openmetrics", "{truncated}"], "OPENMETRICS_INVALID"),
    (["evaluate", "--parquet", "{folder}"], "PARQUET_CACHE_INVALID"),
    (["evaluate", "--prometheus", "http://127.0.0.1:9", "--timeout", "0.5", "--retries", "0"],
     "PROMETHEUS_UNREACHABLE"),
    (["report", "weekly", "--openmetrics", "{truncated}", "--out", "{out}"],
     "OPENMETRICS_INVALID"),
])
def test_bad_input_is_a_structured_error_that_writes_nothing(
        runner: CliRunner, tmp_path: Path, om_file: Path, args: list[str], code: str) -> None:
    truncated = tmp_path / "truncated.om"
    truncated.write_text("\n".join(om_file.read_text().splitlines()[:50]) + "\n")
    (tmp_path / "folder").mkdir()
    out = tmp_path / "out"
    filled = [a.format(om=om_file, truncated=truncated, folder=tmp_path / "folder", out=out)
              for a in args]
    result = runner.invoke(cli, [*filled, "--format", "json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == code and error["where"] and error["next_step"]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "truncated.om"]


def test_evaluate_serve_exports_the_evaluators_metrics_until_sigterm(
        tmp_path: Path, cache: Path) -> None:
    from stack.processes import free_port

    port = free_port()
    process = subprocess.Popen(
        [PLUGINOPS, "evaluate", "--serve", "--parquet", str(cache),
         "--listen", f"127.0.0.1:{port}", "--interval", "3600"],
        stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ})
    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
                if "pluginops_slo_error_budget_remaining_ratio{" in body:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        costly = _fleet().plugins[1].name
        for name in ("pluginops_slo_error_budget_remaining_ratio",
                     "pluginops_slo_burn_rate", "pluginops_cost_anomaly_score",
                     "pluginops_latency_regression_ratio"):
            assert f"# TYPE {name} gauge" in body
        assert f'pluginops_slo_burn_rate{{plugin="{costly}",plugin_type="integration",' \
               f'slo="availability",window="1h"}}' in body
        # and its own health: one good cycle, six plugins, fresh figures
        assert f'{EVALUATOR_CYCLES.name}{{outcome="success",reason=""}} 1.0' in body
        assert f"{EVALUATOR_PLUGINS.name} 6.0" in body
        assert f"{EVALUATOR_STALE.name} 0.0" in body
        assert f"{EVALUATOR_INTERVAL.name} 3600.0" in body
        assert f"{EVALUATOR_LAST_SUCCESS.name} " in body
        checked = subprocess.run(["promtool", "check", "metrics"], input=body, text=True,
                                 capture_output=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_failed_cycle_marks_the_figures_stale_and_counts_its_reason() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from contracts.codes import Code
    from contracts.errors import PluginopsError
    from evaluator.service import Health, failure_reason

    health = Health(interval_s=60)
    registry = CollectorRegistry()
    registry.register(health)
    health.succeeded(ended=1_800_000_000.0, duration_s=2.5, plugins=12)
    health.failed(0.4, failure_reason(PluginopsError(Code.PROMETHEUS_UNREACHABLE, "down")))
    health.failed(0.1, failure_reason(RuntimeError("boom")))
    body = generate_latest(registry).decode()
    assert f"{EVALUATOR_STALE.name} 1.0" in body
    assert f"{EVALUATOR_LAST_SUCCESS.name} 1.8e+09" in body
    assert f'{EVALUATOR_CYCLES.name}{{outcome="failure",' \
           'reason="PROMETHEUS_UNREACHABLE"} 1.0' in body
    assert f'{EVALUATOR_CYCLES.name}{{outcome="failure",reason="RuntimeError"}} 1.0' in body
    assert f"{EVALUATOR_CYCLE_DURATION.name} 0.1" in body
    health.succeeded(ended=1_800_000_060.0, duration_s=2.0, plugins=12)
    assert f"{EVALUATOR_STALE.name} 0.0" in generate_latest(registry).decode()


def test_an_unwritable_output_folder_is_a_structured_error(runner: CliRunner,
                                                           om_file: Path) -> None:
    result = runner.invoke(cli, ["report", "weekly", "--openmetrics", str(om_file), "--out",
                                 "/proc/no-such-folder/week", "--format", "json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "OUTPUT_UNWRITABLE" and error["next_step"]
