"""The generated rules, held by promtool against traffic stated here: each alert fires at the
evaluation where its condition is first met, and nothing fires on a clean 3-day series, on a
burn just under budget, or at zero traffic."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import conventions as c
from alerts.spec import load_slos, parse_document
from alerts.windows import TIERS
from contracts.errors import PluginopsError
from tests.promtool_support import (
    RULES,
    UP,
    bucket,
    constant,
    counter,
    executions,
    firing,
    hist_count,
    run_promtool,
)

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="promtool comes with `make test` (Debian prometheus)")


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_the_generated_rules() -> None:
    done = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_factors_derive_from_the_period_as_the_sre_workbook_table() -> None:
    assert [t.factor(30 * 86400) for t in TIERS] == [14.4, 6.0, 3.0, 1.0]
    assert [round(t.factor(28 * 86400), 4) for t in TIERS] == [13.44, 5.6, 2.8, 0.9333]


def test_factors_match_sloths_golden_alert_rules() -> None:
    golden = (REPO / "tests" / "fixtures" / "sloth" /
              "sloth-base-28d.expected.rendered-version-dev.yaml").read_text()
    factors = {float(f) for f in re.findall(r"> \(([0-9.]+) \* 0\.000999", golden)}
    assert {round(t.factor(28 * 86400), 4) for t in TIERS} <= {round(f, 4) for f in factors}


def test_every_alert_name_comes_from_the_conventions_and_has_a_runbook() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == set(c.ALERTS)
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
                assert rule["labels"][c.SEVERITY] in (c.PAGE, c.TICKET, c.NONE)
                assert (REPO / "docs" / "runbooks" / f"{rule['alert']}.md").exists()


def _slo_doc(query: str) -> dict[str, Any]:
    return {"apiVersion": "openslo/v1", "kind": "SLO",
            "metadata": {"name": "x", "annotations": {"pluginops.dev/applies-to": "type:node"}},
            "spec": {"indicator": {"spec": {"ratioMetric": {
                "good": {"metricSource": {"spec": {"query": query}}},
                "total": {"metricSource": {"spec": {
                    "query": "pluginops_plugin_execution_duration_seconds_count"}}}}}},
                "timeWindow": [{"duration": "30d"}], "objectives": [{"target": 0.99}]}}


def test_a_latency_threshold_that_is_not_a_bucket_bound_is_refused() -> None:
    with pytest.raises(PluginopsError) as err:
        parse_document(_slo_doc('pluginops_plugin_execution_duration_seconds_bucket{le="0.3"}'),
                       "x.yaml")
    assert err.value.code == "SLO_SPEC_INVALID"
    assert "0.3 s is not a bucket bound" in err.value.message


def test_the_bundled_specs_load_with_defaults_for_every_type() -> None:
    slos = load_slos(REPO / "alerts" / "slos")
    assert {(s.kind, s.scope) for s in slos if s.scope.startswith("type:")} == {
        (k, f"type:{t}") for k in ("availability", "latency")
        for t in ("node", "integration", "agent", "quality_gate")}


# Six hours of clean traffic first, so that every page window (up to 6h) is full when the
# fault starts and the arithmetic in each test is exact.
MINUTES_CLEAN = 360
T0 = MINUTES_CLEAN


def availability(error_per_min: int, total_per_min: int, minutes: int,
                 clean: int = MINUTES_CLEAN, plugin: str = "p") -> dict[str, str]:
    success = [total_per_min] * clean + [total_per_min - error_per_min] * minutes
    errors = [0] * clean + [error_per_min] * minutes
    return {executions(plugin, "node", "success"): counter(success),
            executions(plugin, "node", "error"): counter(errors),
            UP: constant(1, clean + minutes)}


def test_a_2_percent_burn_pages_at_the_44th_minute_not_the_43rd(tmp_path: Path) -> None:
    # error ratio over 1h after k minutes = 2k/6000; 14.4 x 0.1% is crossed when k > 43.2.
    ok(run_promtool(tmp_path, "1m", availability(2, 100, 60), [
        firing(c.AVAILABILITY_BURN, f"{T0 + 43}m", [], "page"),
        firing(c.AVAILABILITY_BURN, f"{T0 + 44}m", [{"severity": "page", "plugin": "p"}],
               "page"),
    ]))


def test_a_total_outage_pages_at_the_first_evaluation(tmp_path: Path) -> None:
    # 1/60 of an hour of errors already burns 16.7x: the theoretical minimum is 51.8 s.
    ok(run_promtool(tmp_path, "1m", availability(100, 100, 5), [
        firing(c.AVAILABILITY_BURN, f"{T0}m", []),
        firing(c.AVAILABILITY_BURN, f"{T0 + 1}m", [{"severity": "page", "plugin": "p"}],
               "page"),
    ]))


def test_an_error_spike_on_one_host_of_a_fleet_pages_once(tmp_path: Path) -> None:
    """Two runtime hosts serve p, 100 executions a minute each; host b fails 4 of its 100, host
    a none. The burn is the fleet's (4 of 200 = 2%: the 44th minute, as for one host at 2%),
    not host b's (4% would page at the 22nd), and one page fires, not one per host."""
    series = {}
    for host, errors in (("a", 0), ("b", 4)):
        labels = f'{c.HOST}="{host}", instance="{host}:8080"'
        success = [100] * MINUTES_CLEAN + [100 - errors] * 60
        failed = [0] * MINUTES_CLEAN + [errors] * 60
        series[executions("p", "node", "success")[:-1] + f", {labels}}}"] = counter(success)
        series[executions("p", "node", "error")[:-1] + f", {labels}}}"] = counter(failed)
        series[f'up{{job="{c.RUNTIME_JOB}", {labels}}}'] = constant(1, MINUTES_CLEAN + 60)
    ok(run_promtool(tmp_path, "1m", series, [
        firing(c.AVAILABILITY_BURN, f"{T0 + 22}m", [], "page"),
        firing(c.AVAILABILITY_BURN, f"{T0 + 43}m", [], "page"),
        firing(c.AVAILABILITY_BURN, f"{T0 + 44}m", [{"severity": "page", "plugin": "p"}],
               "page"),
        {"expr": f'count(ALERTS{{alertname="{c.AVAILABILITY_BURN}", alertstate="firing", '
                 'severity="page"})', "eval_time": f"{T0 + 44}m",
         "exp_samples": [{"labels": "{}", "value": 1}]},
    ]))


QUIET = 'count(ALERTS{alertstate="firing", alertname!="Watchdog"})'


QUIET_PLUGINS = {  # plugin: errors and executions a minute, and the burn rate that gives
    "clean": (0, 500, 0),  # a clean 3-day series
    "under": (45, 50_000, 0.9),  # a burn just under budget for 3 days (0.09% at 99.9%)
    "idle": (0, 0, 0),  # zero traffic for 3 days
}


def test_nothing_fires_on_a_quiet_3_days(tmp_path: Path) -> None:
    # 5-minute samples (a 1-minute evaluation of 3 days takes promtool minutes), the three
    # plugins in one run; the burn-rate checks prove the rules saw each one's traffic, so the
    # silence is not a vacuous pass.
    steps = 3 * 24 * 12
    checks = [{"expr": QUIET, "eval_time": f"{h}h", "exp_samples": []}
              for h in range(1, 73, 3)]
    series: dict[str, str] = {}
    for plugin, (errors, total, burn) in QUIET_PLUGINS.items():
        series |= availability(errors, total, steps, clean=0, plugin=plugin)
        for window in ("1h", "3d"):
            checks.append({
                "expr": f'round({c.burn_rate(window)}{{plugin="{plugin}"}}, 0.01)',
                "eval_time": "72h",
                "exp_samples": [{"labels": f'{{plugin="{plugin}", plugin_type="node", '
                                           'slo="availability"}', "value": burn}]})
    ok(run_promtool(tmp_path, "5m", series, checks))


def test_zero_traffic_gives_ratios_of_zero_not_nan(tmp_path: Path) -> None:
    series = availability(0, 0, 120, clean=0)
    checks = [{"expr": f'{c.error_ratio(w)}{{plugin="p"}}', "eval_time": "2h",
               "exp_samples": [{"labels": f'{c.error_ratio(w)}{{plugin="p", '
                                          f'plugin_type="node", slo="availability"}}',
                                "value": 0}]}
              for w in ("5m", "1h", "1d")]
    checks.append({"expr": f'{c.burn_rate("1h")}{{plugin="p"}}', "eval_time": "2h",
                   "exp_samples": [{"labels": f'{c.burn_rate("1h")}{{plugin="p", '
                                              f'plugin_type="node", slo="availability"}}',
                                    "value": 0}]})
    ok(run_promtool(tmp_path, "1m", series, checks))


def test_the_period_ratio_weights_by_events_not_by_window(tmp_path: Path) -> None:
    # 1 hour at 1000/min with 10% errors, then 5 hours at 10/min clean: events say
    # 6000 / 63000 = 9.5%; a mean of 5-minute ratios would say about 1.7%.
    success = [900] * 60 + [10] * 300
    errors = [100] * 60 + [0] * 300
    series = {executions("p", "node", "success"): counter(success),
              executions("p", "node", "error"): counter(errors), UP: constant(1, 360)}
    check = {"expr": f'round({c.PERIOD_ERROR_RATIO}{{plugin="p", slo="availability"}}, 0.001)',
             "eval_time": "360m",
             "exp_samples": [{"labels": '{period="30d", plugin="p", plugin_type="node", '
                                        'slo="availability"}', "value": 0.095}]}
    ok(run_promtool(tmp_path, "1m", series, [check]))


def test_a_latency_burn_pages_with_the_types_threshold(tmp_path: Path) -> None:
    # 20% of node executions slower than 0.5 s: over 1h after k minutes 0.2k/60, and
    # 14.4 x 1% = 0.144 is crossed when k > 43.2.
    steps = T0 + 60
    fast = [100] * T0 + [80] * 60
    series = {bucket("p", "node", "0.5"): counter(fast),
              bucket("p", "node", "+Inf"): counter([100] * steps),
              hist_count("p", "node"): counter([100] * steps),
              executions("p", "node", "success"): counter([100] * steps),
              UP: constant(1, steps)}
    ok(run_promtool(tmp_path, "1m", series, [
        firing(c.LATENCY_BURN, f"{T0 + 43}m", [], "page"),
        firing(c.LATENCY_BURN, f"{T0 + 44}m", [{"severity": "page", "plugin": "p"}], "page"),
        firing(c.AVAILABILITY_BURN, f"{T0 + 44}m", []),
    ]))


def test_an_override_objective_applies_to_its_plugin_only(tmp_path: Path) -> None:
    # research-agent is held to 99.5%, other agents to 99.9%: 2% errors for an hour burn
    # 20x the default agent's budget (a page at minute 44) but 4x research-agent's (nothing).
    series = {UP: constant(1, T0 + 60)}
    for plugin in ("research-agent", "other-agent"):
        series[executions(plugin, "agent", "success")] = counter([100] * T0 + [98] * 60)
        series[executions(plugin, "agent", "error")] = counter([0] * T0 + [2] * 60)
    objective = {"expr": f'{c.OBJECTIVE}{{slo="availability"}}', "eval_time": f"{T0 + 59}m",
                 "exp_samples": [
                     {"labels": f'{c.OBJECTIVE}{{page="true", plugin="other-agent", '
                                'plugin_type="agent", slo="availability", ticket="true"}',
                      "value": 0.999},
                     {"labels": f'{c.OBJECTIVE}{{page="true", plugin="research-agent", '
                                'plugin_type="agent", slo="availability", ticket="true"}',
                      "value": 0.995}]}
    ok(run_promtool(tmp_path, "1m", series, [objective, firing(
        c.AVAILABILITY_BURN, f"{T0 + 59}m", [{"severity": "page", "plugin": "other-agent"}],
        "page")]))


def test_latency_regression_against_last_week_needs_traffic_and_persistence(
        tmp_path: Path) -> None:
    # 5-minute samples for a week and 4 hours: all executions under 0.1 s, then the last
    # 2 hours half of them between 0.5 and 1 s. p95 jumps from ~0.1 s to ~1 s.
    steps = (7 * 24 + 4) * 12
    slow_from = steps - 24
    under_01 = [500] * slow_from + [250] * 24
    series = {
        bucket("p", "node", "0.1"): counter(under_01),
        bucket("p", "node", "0.5"): counter(under_01),
        bucket("p", "node", "1.0"): counter([500] * steps),
        bucket("p", "node", "+Inf"): counter([500] * steps),
        hist_count("p", "node"): counter([500] * steps),
        executions("p", "node", "success"): counter([500] * steps),
        UP: constant(1, steps)}
    end = steps * 5
    ok(run_promtool(tmp_path, "5m", series, [
        firing(c.LATENCY_REGRESSION, f"{(slow_from - 1) * 5}m", []),
        {"expr": f'count(ALERTS{{alertname="{c.LATENCY_REGRESSION}", alertstate="firing", '
                 f'plugin="p"}})', "eval_time": f"{end}m",
         "exp_samples": [{"labels": "{}", "value": 2}]},
    ], groups=(c.group("latency"),)))  # a week of samples: every group would take a minute


def test_cost_anomaly_from_the_evaluators_score(tmp_path: Path) -> None:
    series = {'pluginops_cost_anomaly_score{plugin="p", plugin_type="node"}':
              "0+0x30 5+0x30",
              'pluginops_cost_anomaly_material{plugin="p", plugin_type="node"}':
              "0+0x30 1+0x30", UP: constant(1, 60),
              executions("p", "node", "success"): counter([10] * 60)}
    ok(run_promtool(tmp_path, "1m", series, [
        firing(c.COST_ANOMALY, "34m", []),
        firing(c.COST_ANOMALY, "36m", [{"severity": "ticket", "plugin": "p"}]),
    ]))


def test_an_immaterial_cost_anomaly_is_never_alerted(tmp_path: Path) -> None:
    """The evaluator scores it past the threshold, but its extra spend is under the floor."""
    series = {'pluginops_cost_anomaly_score{plugin="p", plugin_type="node"}':
              "0+0x30 9+0x30",
              'pluginops_cost_anomaly_material{plugin="p", plugin_type="node"}':
              "0+0x60", UP: constant(1, 60),
              executions("p", "node", "success"): counter([10] * 60)}
    ok(run_promtool(tmp_path, "1m", series, [
        firing(c.COST_ANOMALY, "40m", []), firing(c.COST_ANOMALY, "59m", [])]))


def test_cost_anomaly_falls_back_to_promql_when_the_evaluator_is_silent(
        tmp_path: Path) -> None:
    steps = 24 * 12 + 12  # a day of 5-minute samples, then an hour of 10x cost
    cost = [0.010 + 0.001 * (i % 3) for i in range(24 * 12)] + [0.11] * 12
    series = {'pluginops_plugin_execution_cost_usd_total{plugin="p", plugin_type="node"}':
              counter(cost), executions("p", "node", "success"): counter([10] * steps),
              UP: constant(1, steps)}
    ok(run_promtool(tmp_path, "5m", series, [
        firing(c.COST_ANOMALY, f"{24 * 60}m", []),
        firing(c.COST_ANOMALY, f"{24 * 60 + 30}m", [{"severity": "ticket", "plugin": "p"}]),
    ]))


@pytest.mark.parametrize(("alert", "series", "at", "severity"), [
    pytest.param(c.INSTALL_ROLLBACKS,
                 {'pluginops_rollbacks_total{plugin="p", phase="verify", reason="X"}':
                  "0+0x10 1+0x10"}, ("10m", "11m"), "ticket", id="an install rolled back"),
    pytest.param(c.INSTALL_ROLLBACKS,
                 {'pluginops_rollbacks_total{plugin="p", phase="verify", reason="X"}':
                  "_x10 1+0x10"}, ("9m", "10m"), "ticket",
                 id="the first rollback ever, a counter born at 1"),
    pytest.param(c.DENIAL_SPIKE,
                 {'pluginops_policy_denials_total{plugin="p", profile="node", '
                  'operation="file.read"}': "_x10 15+0x10"}, ("9m", "10m"), "ticket",
                 id="a burst before the first scrape"),
    pytest.param(c.DENIAL_SPIKE,
                 {'pluginops_policy_denials_total{plugin="p", profile="node", '
                  'operation="network"}': "0+0x10 0+6x10"}, ("11m", "13m"), "ticket",
                 id="a burst of sandbox denials"),
])
def test_operational_alerts(tmp_path: Path, alert: str, series: dict[str, str],
                            at: tuple[str, str], severity: str) -> None:
    series = {**series, UP: constant(1, 30), executions("p", "node", "success"): counter(
        [1] * 30)}
    ok(run_promtool(tmp_path, "1m", series, [
        firing(alert, at[0], []), firing(alert, at[1], [{"severity": severity,
                                                         "plugin": "p"}])]))


def test_telemetry_absence_pages_after_a_minute(tmp_path: Path) -> None:
    series = {UP: "1+0x10 0+0x10", executions("p", "node", "success"): counter([1] * 20)}
    check = {"expr": f'count(ALERTS{{alertname="{c.TELEMETRY_ABSENT}", '
                     'alertstate="firing", severity="page"})', "eval_time": "12m",
             "exp_samples": [{"labels": "{}", "value": 1}]}
    ok(run_promtool(tmp_path, "1m", series, [
        firing(c.TELEMETRY_ABSENT, "10m", []), check]))


def test_a_stale_evaluator_pages_after_three_intervals_and_five_minutes(tmp_path: Path) -> None:
    last, interval = c.EVALUATOR_LAST_SUCCESS, c.EVALUATOR_INTERVAL
    # cycles succeed every minute for 10 minutes, then stop (the last success stays at 540 s)
    series = {f'{last}{{instance="ev:9464"}}': "0+60x9 540+0x30",
              f'{interval}{{instance="ev:9464"}}': constant(60, 40)}
    ok(run_promtool(tmp_path, "1m", series, [
        firing(c.EVALUATOR_STALE, "12m", []),  # 3 minutes without a cycle: not yet stale
        firing(c.EVALUATOR_STALE, "16m", []),  # stale since 12m, not for five minutes yet
        firing(c.EVALUATOR_STALE, "18m", [{"severity": "page"}])]))


def test_an_evaluator_that_never_succeeded_pages_too(tmp_path: Path) -> None:
    series = {f'{c.EVALUATOR_INTERVAL}{{instance="ev:9464"}}': constant(60, 10)}
    ok(run_promtool(tmp_path, "1m", series, [
        firing(c.EVALUATOR_STALE, "4m", []),
        firing(c.EVALUATOR_STALE, "6m", [{"severity": "page"}])]))


def test_watchdog_always_fires_with_its_annotations(tmp_path: Path) -> None:
    rules = yaml.safe_load(RULES.read_text())
    watchdog = next(r for g in rules["groups"] for r in g["rules"]
                    if r.get("alert") == c.WATCHDOG)
    ok(run_promtool(tmp_path, "1m", {UP: constant(1, 5)}, [], [{
        "eval_time": "1m", "alertname": c.WATCHDOG,
        "exp_alerts": [{"exp_labels": {"severity": "none"},
                        "exp_annotations": watchdog["annotations"]}]}]))


def test_generated_rules_are_deterministic() -> None:
    from alerts.generated_files import rules_yaml

    assert rules_yaml() == rules_yaml()
