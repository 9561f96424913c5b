"""A fleet through a scalable store, live on loopback: three `pluginops serve` hosts scraped by
vmagent into Debian's VictoriaMetrics, vmalert evaluating the committed rules against it and
notifying Alertmanager. A clean minute pages nobody; an error spike on one host pages once, for
the fleet, within the time to page that the fleet's error ratio allows."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

import pytest

from alerts import conventions as c
from alerts.windows import TIERS, seconds
from stack import scenarios
from stack.fleet import Fleet, local_fleet
from stack.processes import get_json
from stack.stack import FAULT_PLUGIN
from stack.traffic import Traffic

pytestmark = pytest.mark.slow

CLEAN_S = 20.0
# What the store path adds to the time to page, beyond Prometheus': vmagent's flush and the
# store's latency offset (1 s each in the fast profile), and one evaluation plus one flush for
# each level of recorded rules the page reads through (error ratio, burn rate, alert).
PIPELINE_ALLOWANCE_S = 10.0


def first_page_s(faulty_share: float, objective: float = 0.999) -> float:
    """The fastest page tier's first crossing when `faulty_share` of the fleet's executions
    start failing after a clean long window."""
    tier = TIERS[0]
    return tier.factor(30 * 86400) * (1 - objective) * seconds(tier.long) / faulty_share


def executions_by_host(fleet: Fleet) -> dict[str, float]:
    expr = (f'sum by ({c.HOST}) (pluginops_plugin_executions_total'
            f'{{plugin="{FAULT_PLUGIN}"}})')
    answer = get_json(f"{fleet.store}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    return {r["metric"][c.HOST]: float(r["value"][1]) for r in answer["data"]["result"]}


def test_a_clean_run_pages_nobody_and_a_spike_on_one_host_pages_once_for_the_fleet(
        tmp_path: Path) -> None:
    with local_fleet(tmp_path) as fleet:
        traffic = {name: Traffic(host.url, FAULT_PLUGIN, host.rate, host.token).start()
                   for name, host in fleet.hosts.items()}
        try:
            time.sleep(CLEAN_S)
            clean_alerts = scenarios.firing(fleet.alertmanager)
            clean_pages = fleet.sink.received(c.RECEIVER_PAGER)
            watchdog = fleet.sink.received(c.RECEIVER_WATCHDOG)
            scraped = executions_by_host(fleet)

            faulty = "a"
            share = fleet.hosts[faulty].rate / sum(h.rate for h in fleet.hosts.values())
            result = scenarios.Result("fleet-error-spike")
            expected = [scenarios.Expected(c.AVAILABILITY_BURN,
                                           {"plugin": FAULT_PLUGIN, c.SEVERITY: c.PAGE})]
            started = time.time()
            traffic[faulty].inputs = {"fail": True}
            scenarios.wait_for(fleet.stack(faulty), expected, started,
                               first_page_s(share) + PIPELINE_ALLOWANCE_S + 30, result)
            time.sleep(3)  # any second page (another host, another tier) would arrive by now
            pages = [d for d in fleet.sink.received(c.RECEIVER_PAGER) if d.status == "firing"]
        finally:
            for one in traffic.values():
                one.stop()

    # the clean run: every host's executions in the store, only the watchdog firing
    assert set(scraped) == set(fleet.hosts) and all(v > 0 for v in scraped.values()), scraped
    assert [a["alertname"] for a in clean_alerts] == [c.WATCHDOG], clean_alerts
    assert clean_pages == [] and watchdog, "the watchdog proves the ruler reaches Alertmanager"

    # the spike: one page, for the plugin across the fleet (no host, no instance), in time
    (outcome,) = result.expected
    assert outcome["fired"], result.to_dict()
    assert first_page_s(share) <= outcome["time_to_detect_s"] <= (
        first_page_s(share) + PIPELINE_ALLOWANCE_S), result.to_dict()
    alerts = {tuple(sorted(d.labels.items())) for d in pages}
    assert len(alerts) == 1, alerts
    (labels,) = [dict(a) for a in alerts]
    assert labels["alertname"] == c.AVAILABILITY_BURN and labels["plugin"] == FAULT_PLUGIN
    assert c.HOST not in labels and "instance" not in labels
