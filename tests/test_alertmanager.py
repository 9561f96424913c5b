"""The Alertmanager config: amtool checks it, routes each severity to its receiver, and a live
Alertmanager shows a page suppressing the ticket for the same plugin and SLO."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from alerts import conventions as c
from tests.live_support import alert_states, alertmanager_process, post_alerts

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "alerts" / "generated" / "alertmanager.yml"
pytestmark = pytest.mark.skipif(shutil.which("amtool") is None,
                                reason="amtool comes with `make test`")


def test_amtool_checks_the_config() -> None:
    done = subprocess.run(["amtool", "check-config", str(CONFIG)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("labels", "receiver"), [
    pytest.param([f"alertname={c.AVAILABILITY_BURN}", "severity=page", "plugin=p"],
                 c.RECEIVER_PAGER, id="a page goes to the pager"),
    pytest.param([f"alertname={c.AVAILABILITY_BURN}", "severity=ticket", "plugin=p"],
                 c.RECEIVER_TICKETS, id="a ticket goes to the ticket queue"),
    pytest.param([f"alertname={c.WATCHDOG}", "severity=none"], c.RECEIVER_WATCHDOG,
                 id="the watchdog goes to its own receiver"),
    pytest.param([f"alertname={c.TELEMETRY_ABSENT}", "severity=page"], c.RECEIVER_PAGER,
                 id="telemetry absence pages"),
])
def test_routes_per_severity(labels: list[str], receiver: str) -> None:
    done = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={CONFIG}",
                           f"--verify.receivers={receiver}", *labels],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_page_inhibits_the_ticket_for_the_same_plugin_and_slo(tmp_path: Path) -> None:
    with alertmanager_process(tmp_path, CONFIG.read_text()) as url:
        common = {"alertname": c.AVAILABILITY_BURN, "plugin": "p", "slo": "availability"}
        post_alerts(url, [{**common, "severity": "page"}, {**common, "severity": "ticket"},
                          {**common, "plugin": "q", "severity": "ticket"}])
        states = {(a["labels"]["plugin"], a["labels"]["severity"]): a["status"]["state"]
                  for a in alert_states(url)}
    assert states == {("p", "page"): "active", ("p", "ticket"): "suppressed",
                      ("q", "ticket"): "active"}
