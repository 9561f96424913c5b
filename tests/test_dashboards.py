"""The generated Grafana dashboards: they are what the builder's schema (Grafana 11.6,
schemaVersion 41) describes, they follow our lint rules, every name they query exists, and
every panel query runs against a real Prometheus holding the stack's data and answers with
series wherever the panel should show data."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from alerts import conventions as c
from alerts.spec import load_slos
from collector import openmetrics
from collector import synthetic as syn
from collector.source import Source
from contracts.catalogue import (
    ALL_METRICS,
    COMPATIBILITY_DIAGNOSES,
    COMPATIBILITY_DIAGNOSIS_SECONDS,
    COST_VARIANCE,
    DRILL_DETECTION_SECONDS,
    DRILL_INCIDENTS,
    EVALUATOR_METRICS,
    FAILED_UPDATES,
    FIRST_INSTALL_GRANTS,
    GATE_CRITICAL_SCENARIOS,
    INSTALL_FAILURES,
    INSTALL_IN_PROGRESS,
    INSTALL_PHASE_DURATION,
    INSTALL_PHASES,
    PARTIAL_INSTALLS,
    PHASE_BUCKETS,
    PLUGINS_INSTALLED,
    PREFLIGHT_FINDINGS,
    REGISTRY_HOTFIXES,
    Dashboards,
    MetricType,
)
from contracts.codes import Code
from contracts.kpis import KPIS, Kpi
from dashboards import queries as q
from dashboards.specs import ALL
from evaluator.plugin import Settings
from evaluator.run import evaluate_source
from evaluator.service import families
from tests.conftest import REPO
from tests.evaluator_support import backfill_openmetrics, prometheus_with_rules

GENERATED = REPO / "dashboards" / "generated"
RANGE = "24h"  # the dashboards' default time range
RATE_INTERVAL = "5m"


def _documents() -> dict[str, dict[str, Any]]:
    return {name: json.loads((GENERATED / name).read_text()) for name in ALL}


def _targets(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(panel["title"], target) for panel in document["panels"]
            for target in panel.get("targets", [])]


@pytest.mark.parametrize("name", sorted(ALL))
def test_a_dashboard_is_exactly_what_the_builders_schema_describes(name: str) -> None:
    """Parsed into the SDK's typed model and written back, nothing is lost or changed: no field
    outside the schema, no value of the wrong type."""
    document = json.loads((GENERATED / name).read_text())
    again = json.loads(JSONEncoder(sort_keys=False).encode(Dashboard.from_json(document)))
    assert again == document
    assert document["schemaVersion"] == 41


def test_a_foreign_field_would_be_caught_by_the_round_trip() -> None:
    document = _documents()["fleet-overview.json"]
    document["panels"][0]["colour"] = "red"
    again = json.loads(JSONEncoder(sort_keys=False).encode(Dashboard.from_json(document)))
    assert again != document


@pytest.mark.parametrize("name", sorted(ALL))
def test_lint_stable_uid_datasource_variable_units_and_descriptions(name: str) -> None:
    document = _documents()[name]
    assert document["uid"] == ALL[name].uid and document["uid"].startswith("pluginops-")
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables[Dashboards.DATASOURCE_VARIABLE]["type"] == "datasource"
    titles = [panel["title"] for panel in document["panels"]]
    assert len(titles) == len(set(titles)), "panel titles are unique"
    for panel in document["panels"]:
        assert panel["datasource"]["uid"] == f"${{{Dashboards.DATASOURCE_VARIABLE}}}"
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        assert panel.get("description"), panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)) and refs, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == f"${{{Dashboards.DATASOURCE_VARIABLE}}}"
    positions = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in document["panels"]]
    assert len(positions) == len(set(positions)), "no two panels on one spot"


def _known_names() -> set[str]:
    rules = (REPO / "alerts" / "generated" / "rules.yml").read_text()
    names = set(re.findall(r"record: (\S+)", rules))
    for spec in (*ALL_METRICS, *EVALUATOR_METRICS):
        names.update(spec.exposed_names)
    return names


def test_every_metric_and_rule_a_panel_reads_exists() -> None:
    known = _known_names()
    for document in _documents().values():
        exprs = [t["expr"] for _, t in _targets(document)]
        exprs += [a["expr"] for a in document.get("annotations", {}).get("list", [])]
        for expr in exprs:
            for name in re.findall(r"pluginops[_:][a-z0-9_:]+", expr):
                assert name in known, (name, expr)
    detail = _documents()["plugin-detail.json"]
    assert any(t.get("exemplar") for _, t in _targets(detail)), "latency links to traces"
    assert detail["annotations"]["list"][0]["expr"] == q.ROLLBACK_ANNOTATION


# Against a real Prometheus ------------------------------------------------------------------

def _extra_families(start: int, end: int) -> list[str]:
    """What the runtime exports beyond the evaluator's tidy frame: install phase durations,
    installs in flight, preflight findings."""
    lines = [f"# TYPE {INSTALL_PHASE_DURATION.name} histogram"]
    for phase in INSTALL_PHASES:
        for bound in (*PHASE_BUCKETS, float("inf")):
            le = "+Inf" if bound == float("inf") else repr(float(bound))
            share = 1.0 if bound >= 0.5 else 0.3
            lines += [f'{INSTALL_PHASE_DURATION.name}_bucket{{phase="{phase}",le="{le}"}} '
                      f"{share * (t - start) / 3600:.1f} {t}" for t in range(start, end + 1, 60)]
        lines += [f'{INSTALL_PHASE_DURATION.name}_count{{phase="{phase}"}} {(t - start) / 3600:.1f}'
                  f" {t}" for t in range(start, end + 1, 60)]
        lines += [f'{INSTALL_PHASE_DURATION.name}_sum{{phase="{phase}"}} {(t - start) / 7200:.1f}'
                  f" {t}" for t in range(start, end + 1, 60)]
    lines.append(f"# TYPE {INSTALL_IN_PROGRESS.name} gauge")
    lines += [f'{INSTALL_IN_PROGRESS.name}{{plugin="node-0000"}} 0 {t}'
              for t in range(start, end + 1, 60)]
    family = PREFLIGHT_FINDINGS.name.removesuffix("_total")
    lines.append(f"# TYPE {family} counter")
    lines += [f'{PREFLIGHT_FINDINGS.name}{{code="HOST_RANGE_UNSATISFIED"}} {(t - start) // 600} {t}'
              for t in range(start, end + 1, 60)]
    return lines + _kpi_families(start, end)


# The KPI counters of one host over the backfilled days: `k` steps from 0 to 4 (reached hours
# before the end), one step every 40,000 s.
KPI_SERIES = (
    (INSTALL_FAILURES, f'operation="install",cause="{Code.NO_COMPATIBLE_VERSION}"', 1),
    (INSTALL_FAILURES, f'operation="install",cause="{Code.SHA256_MISMATCH}"', 1),
    (COMPATIBILITY_DIAGNOSES, "", 1), (COMPATIBILITY_DIAGNOSIS_SECONDS, "", 90),
    (FAILED_UPDATES, 'recovery="transaction"', 1), (FAILED_UPDATES, 'recovery="bake"', 0),
    (DRILL_INCIDENTS, 'result="detected"', 1), (DRILL_DETECTION_SECONDS, "", 50),
    (FIRST_INSTALL_GRANTS, 'risk="high"', 1), (FIRST_INSTALL_GRANTS, 'risk="low"', 2),
    (REGISTRY_HOTFIXES, "", 1),
    (GATE_CRITICAL_SCENARIOS, 'outcome="passed"', 9),
    (GATE_CRITICAL_SCENARIOS, 'outcome="failed"', 1),
)
KPI_GAUGES = ((PLUGINS_INSTALLED, 'profile="node"', 3), (PLUGINS_INSTALLED, 'profile="none"', 1),
              (PARTIAL_INSTALLS, "", 1), (COST_VARIANCE, "", 0.04))
# ... and what the KPI rules make of them (an operator's recovery comes with the last step)
KPI_EXPECTED = {
    Kpi.VERSION_MISMATCH_FAILURES: 4.0, Kpi.COMPAT_DIAGNOSIS: 90.0, Kpi.STRANDED: 1.0,
    Kpi.AUTO_RECOVERED: 0.8, Kpi.MTTD: 50.0, Kpi.COST_VARIANCE: 0.04,
    Kpi.PROFILE_COVERAGE: 0.75, Kpi.HIGH_RISK_GRANTS: 4.0, Kpi.HOTFIXES: 4.0,
    Kpi.CRITICAL_PASS_RATE: 0.9,
}


def _kpi_families(start: int, end: int) -> list[str]:
    lines = []
    times = range(start, end + 1, 60)
    for spec in {spec for spec, _, _ in (*KPI_SERIES, *KPI_GAUGES)}:
        family = spec.name.removesuffix("_total") if spec.name.endswith("_total") else spec.name
        lines.append(f"# TYPE {family} {spec.type.value}")
        for same, labels, factor in (*KPI_SERIES, *KPI_GAUGES):
            if same is not spec:
                continue
            for t in times:
                k = (t - start) // 40000
                value = factor if spec.type is MetricType.GAUGE else factor * k
                lines.append(f"{spec.name}{{{labels}}} {value} {t}")
        if spec is FAILED_UPDATES:
            lines += [f'{spec.name}{{recovery="operator"}} {int(t - start >= 160000)} {t}'
                      for t in times]
    return lines


def _evaluator_families(source: Path, at: int) -> list[str]:
    """The evaluator's exported gauges, as it would have been scraped over the last hour."""
    evaluation = evaluate_source(Source("openmetrics", str(source)),
                                 load_slos(REPO / "alerts" / "slos"), Settings(), at).evaluation
    lines = []
    for family in families(evaluation):
        lines.append(f"# TYPE {family.name} gauge")
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
            lines += [f"{family.name}{{{labels}}} {sample.value!r} {t}"
                      for t in range(at - 3600, at + 1, 60)]
    return lines


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("panels")
    at = (int(time.time()) // 3600 - 4) * 3600
    days = 31
    fleet = syn.Fleet(at - days * 86400, at, 60, syn.profiles(4, seed=21), (
        syn.Incident("integration-0001", "errors", at - 1800, at, 0.05),
        syn.Incident("agent-0002", "cost", at - 3 * 3600, at, 3.0),
    ), seed=21)
    source = folder / "fleet.om"
    openmetrics.write_file(syn.telemetry(fleet), source,
                           {"job": c.RUNTIME_JOB, "instance": "runtime:8080", c.HOST: HOST})
    extra = folder / "extra.om"
    extra.write_text("\n".join([*_extra_families(at - 2 * 86400, at),
                                *_evaluator_families(source, at), "# EOF"]) + "\n")
    (folder / "prom" / "tsdb").mkdir(parents=True)
    backfill_openmetrics(extra, folder / "prom" / "tsdb")
    with prometheus_with_rules(folder, source, REPO / "alerts" / "generated" / "rules.yml",
                               at - 2 * 86400, at) as (url, at_ms):
        yield url, at_ms / 1000


HOST = "runtime-a"  # the synthetic fleet's one runtime host


def _substitute(expr: str, plugin: str, host: str = ".*") -> str:
    """As Grafana does; `host` ".*" is the host variable's All."""
    return (expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__range", RANGE)
            .replace(f"${Dashboards.PLUGIN_VARIABLE}", plugin)
            .replace(f"${Dashboards.HOST_VARIABLE}", host))


def _run(url: str, target: dict[str, Any], at: float, plugin: str,
         host: str = ".*") -> dict[str, Any]:
    expr = _substitute(target["expr"], plugin, host)
    if target.get("instant"):
        params = {"query": expr, "time": f"{at:.3f}"}
        path = "query"
    else:
        params = {"query": expr, "start": f"{at - 3600:.3f}", "end": f"{at:.3f}", "step": "60"}
        path = "query_range"
    request = f"{url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as err:
        return dict(json.loads(err.read()))


def _expects_data(expr: str) -> bool:
    queries = [query for query in vars(q).values() if isinstance(query, q.Query)]
    queries += [make(k.name) for k in KPIS for make in (q.kpi_now, q.kpi_previous, q.kpi_goal)]
    known = {query.expr: query.expects_data for query in queries}
    return known.get(expr, True)


@pytest.mark.slow
def test_every_panel_query_answers_with_series_where_the_panel_should_have_data(stack) -> None:  # type: ignore[no-untyped-def]
    url, at = stack
    plugins = json.loads(urllib.request.urlopen(
        f"{url}/api/v1/label/plugin/values?" + urllib.parse.urlencode(
            {"match[]": "pluginops_plugin_executions_total", "start": at - 3600, "end": at}),
        timeout=30).read())["data"]
    assert "agent-0002" in plugins  # what the plugin variable offers
    ran, empty_ok = 0, []
    for name, document in _documents().items():
        for title, target in _targets(document):
            if "ALERTS" in target["expr"]:
                continue  # alerts are evaluated live, not backfilled: tested in test_compose
            answer = _run(url, target, at, "agent-0002")
            assert answer["status"] == "success", (name, title, answer.get("error"))
            ran += 1
            if not answer["data"]["result"]:
                assert not _expects_data(target["expr"]), (name, title, target["expr"])
                if name != "kpis.json":  # a previous period, before the store held one
                    empty_ok.append(title)
    assert ran >= 65
    assert len(empty_ok) <= 4, empty_ok


@pytest.mark.slow
def test_the_host_variable_offers_the_hosts_and_narrows_the_per_host_panels(stack) -> None:  # type: ignore[no-untyped-def]
    url, at = stack
    (variable,) = [v for v in _documents()["plugin-detail.json"]["templating"]["list"]
                   if v["name"] == Dashboards.HOST_VARIABLE]
    offered = json.loads(urllib.request.urlopen(
        f"{url}/api/v1/label/{c.HOST}/values?" + urllib.parse.urlencode(
            {"match[]": "pluginops_plugin_executions_total", "start": at - 3600, "end": at}),
        timeout=30).read())["data"]
    assert variable["query"].endswith(f", {c.HOST})") and offered == [HOST]
    target = {"expr": q.HOST_AVAILABILITY.expr}
    chosen = _run(url, target, at, "agent-0002", HOST)["data"]["result"]
    assert {r["metric"][c.HOST] for r in chosen} == {HOST}
    assert _run(url, target, at, "agent-0002", "elsewhere")["data"]["result"] == []
    assert _run(url, {"expr": q.availability("1h")}, at, "agent-0002",
                "elsewhere")["data"]["result"] == []


@pytest.mark.slow
def test_the_kpi_panels_show_what_the_rules_make_of_known_counters(stack) -> None:  # type: ignore[no-untyped-def]
    url, at = stack
    document = _documents()["kpis.json"]
    assert [p["title"] for p in document["panels"]] == \
        [f"{k.title} ({k.target_text})" for k in KPIS]
    for kpi, panel in zip(KPIS, document["panels"], strict=True):
        now, previous, goal = panel["targets"]
        answer = _run(url, {"expr": now["expr"], "instant": True}, at, "agent-0002")
        (value,) = [float(r["value"][1]) for r in answer["data"]["result"]]
        assert value == pytest.approx(KPI_EXPECTED[kpi.name], rel=0.01), kpi.name
        assert _run(url, {"expr": previous["expr"], "instant": True}, at,
                    "agent-0002")["data"]["result"] == []  # the store holds two days
        target = _run(url, {"expr": goal["expr"], "instant": True}, at,
                      "agent-0002")["data"]["result"]
        assert [float(r["value"][1]) for r in target] == \
            ([] if kpi.goal == "reduce_by" else [kpi.target]), kpi.name
