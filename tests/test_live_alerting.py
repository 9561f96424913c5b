"""End to end on this machine: a real `pluginops serve` scraped by a real Prometheus running the
generated rules, a real Alertmanager delivering to a webhook. Each scenario gets a fresh stack."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from alerts import conventions as c
from collector.query_api import QueryApi
from contracts.catalogue import INSTALL_PHASES
from contracts.kpis import Kpi
from contracts.layout import Layout
from evaluator.incidents import Incidents
from runtime.kpi import records
from runtime.kpi.compute import scorecard
from stack import drill, scenarios
from stack.stack import FAULT_PLUGIN, local_stack
from tests.serve_support import PLUGINOPS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None or
                       shutil.which("prometheus-alertmanager") is None,
                       reason="Prometheus and Alertmanager come with `make test`"),
]


def test_an_error_spike_pages_within_the_goal_and_the_webhook_gets_the_page(
        tmp_path: Path) -> None:
    """... and the store's record of the page is a production incident for the scorecard: it
    began when the recorded error ratio rose, after the fault, and was detected at the page."""
    with local_stack(tmp_path) as stack:
        result = scenarios.run(stack, "error-spike")
        pages = [d for d in stack.sink.received(c.RECEIVER_PAGER) if d.status == "firing"]
        production = Incidents(QueryApi(stack.prometheus, retries=0)).read(
            time.time() - 3600, time.time() + 60)
    assert result.ok, result.to_dict()
    (expected,) = result.expected
    minimum = result.notes["theoretical_minimum_s"]
    assert minimum <= expected["time_to_detect_s"] <= result.notes["goal_s"], result.to_dict()
    (incident,) = production
    assert result.injected_at is not None
    assert result.injected_at <= incident.at <= result.injected_at + 30  # a scrape and a rule
    # the page's activation (whole seconds) came just before the injector saw it at Alertmanager
    fired_at = incident.at + (incident.detected_s or 0)
    seen_at = result.injected_at + expected["time_to_detect_s"]
    assert -0.5 <= seen_at - fired_at <= 5.0, (fired_at, seen_at)
    assert {(d.labels["alertname"], d.labels["plugin"], d.labels["severity"],
             d.labels["slo"]) for d in pages} == {
        (c.AVAILABILITY_BURN, FAULT_PLUGIN, c.PAGE, "availability")}
    assert result.unexpected == []


def test_an_install_rolled_back_opens_a_ticket_and_the_drill_moves_the_scorecard(
        tmp_path: Path) -> None:
    """The drill recorded in the runtime's home: the scorecard's mean time to detect is the
    alert's, and the injected update failure counts as recovered without an operator."""
    with local_stack(tmp_path, history=scenarios.HISTORY["install-failure"]) as stack:
        result = scenarios.run(stack, "install-failure")
        tickets = [d for d in stack.sink.received(c.RECEIVER_TICKETS)
                   if d.labels.get("alertname") == c.INSTALL_ROLLBACKS]
        home = tmp_path / "home"
        drill.record(home, [result])
        card = {v.name: v for v in scorecard(records.read(home), time.time() + 1)}
    assert result.ok, result.to_dict()
    assert tickets and tickets[0].labels["plugin"] == "json-transform"
    assert tickets[0].labels["severity"] == c.TICKET
    detected = result.expected[0]["time_to_detect_s"]
    assert card[Kpi.MTTD].current == pytest.approx(detected)
    assert card[Kpi.MTTD].detail == {"incidents": 1, "undetected": 0,
                                     "mttd_s:install-failure": detected}
    recovered = card[Kpi.AUTO_RECOVERED]
    assert (recovered.current, recovered.detail["rolled_back_by_transaction"]) == (1.0, 1)


def test_an_update_rolled_back_by_the_cli_beside_serve_opens_a_ticket(tmp_path: Path) -> None:
    """The rollback counters come from the journal, which the CLI writes too: an update the CLI
    rolls back shows on `serve`'s next scrape and fires PluginInstallRollbacks."""
    with local_stack(tmp_path, history=()) as stack:
        assert stack.folder is not None
        started = time.time()
        done = subprocess.run([PLUGINOPS, "update", "json-transform", "--inject-failure",
                               INSTALL_PHASES[-1], "--home", str(stack.folder / "home")],
                              capture_output=True, text=True, timeout=300)
        result = scenarios.Result("cli-rollback")
        scenarios.wait_for(stack, [scenarios.Expected(c.INSTALL_ROLLBACKS,
                                                      {"plugin": "json-transform"})],
                           started, 60.0, result)
        tickets = [d for d in stack.sink.received(c.RECEIVER_TICKETS)
                   if d.labels.get("alertname") == c.INSTALL_ROLLBACKS]
    assert done.returncode == 1 and "Rolled back to v1.2.0" in done.stdout
    assert result.expected[0]["fired"], result.to_dict()
    assert tickets and tickets[0].labels["plugin"] == "json-transform"


def test_clean_traffic_pages_nobody_and_the_watchdog_arrives(tmp_path: Path) -> None:
    """Twenty seconds here (`pluginops inject --scenario clean` runs a minute by default); the
    fleet test (test_fleet_store.py) watches clean traffic through the store as well."""
    with local_stack(tmp_path) as stack:
        result = scenarios.run(stack, "clean", clean_s=20.0)
        pages = stack.sink.received(c.RECEIVER_PAGER)
    assert result.ok and result.unexpected == [], result.to_dict()
    assert pages == []
    assert result.notes["watchdog_delivered"] is True
    assert result.notes["duration_s"] == 20.0


@pytest.mark.parametrize(("scenario", "alert", "labels"), [
    pytest.param("cost-spike", c.COST_ANOMALY, {"plugin": FAULT_PLUGIN},
                 id="50 ms of CPU per execution is a cost anomaly (PromQL fallback)"),
    pytest.param("latency-regression", c.LATENCY_REGRESSION, {"plugin": FAULT_PLUGIN},
                 id="20 ms executions after a week at 2 ms are a latency regression"),
    pytest.param("policy-violation-burst", c.DENIAL_SPIKE, {"plugin": "snoop"},
                 id="15 denials in a few seconds are a denial spike"),
])
def test_fault_scenarios_raise_their_alert_and_nothing_unexpected_pages(
        tmp_path: Path, scenario: str, alert: str, labels: dict[str, str]) -> None:
    with local_stack(tmp_path, history=scenarios.HISTORY[scenario]) as stack:
        result = scenarios.run(stack, scenario)
        delivered = [d for d in stack.sink.received(c.RECEIVER_TICKETS)
                     if d.labels.get("alertname") == alert]
    assert result.ok, result.to_dict()
    assert all(e["fired"] for e in result.expected)
    assert delivered and all(d.labels[k] == v for d in delivered for k, v in labels.items())
    assert not any(u.get("severity") == c.PAGE for u in result.unexpected)


def test_inject_against_a_running_stack_by_its_urls(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "pluginops")
    with local_stack(tmp_path, history=()) as stack:
        done = subprocess.run(
            [exe, "inject", "--scenario", "policy-violation-burst", "--runtime", stack.runtime,
             "--prometheus", stack.prometheus, "--alertmanager", stack.alertmanager,
             "--token", stack.token, "--record", str(tmp_path / "home"), "--format", "json"],
            capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    (result,) = answer["results"]
    assert result["ok"] and result["expected"][0]["fired"]
    assert result["expected"][0]["time_to_webhook_s"] is None, "no sink of ours to time"
    # the drill is on the runtime's record: its incident, when it began, how long it took
    assert answer["incidents"] == 1
    (incident,) = records.incidents(Layout(tmp_path / "home"))
    assert (incident.drill, incident.scenario, incident.alert) == \
        (answer["drill"], "policy-violation-burst", c.DENIAL_SPIKE)
    assert incident.at == result["injected_at"]
    assert incident.detected_s == result["expected"][0]["time_to_detect_s"]


def test_inject_needs_a_stack() -> None:
    from click.testing import CliRunner

    from pluginops.cli import cli

    result = CliRunner().invoke(cli, ["inject", "--scenario", "clean", "--runtime", "http://x"])
    assert result.exit_code == 2
    assert "error[USAGE] inject: give --local, or all of --runtime" in result.stderr
