"""A fleet through a scalable store, live on loopback: three `pluginops serve` hosts scraped by
vmagent into Debian's VictoriaMetrics, vmalert evaluating the committed rules against it and
notifying Alertmanager. Clean traffic pages nobody; an error spike on one host pages once, for
the fleet, within the time to page that the fleet's error ratio allows. `pluginops fleet
rollout` gates each wave on the new version's burn read from that store: a canary that burns
its budget is rolled back, and a good version reaches every host even when the coordinator is
killed mid-rollout."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from alerts import conventions as c
from alerts.windows import TIERS, seconds
from contracts.layout import Layout
from runtime.rollouts import Rollouts
from stack import scenarios
from stack.fleet import Fleet, local_fleet
from stack.processes import get_json, wait_until
from stack.stack import FAULT_PLUGIN
from stack.traffic import Traffic
from tests.serve_support import PLUGINOPS

pytestmark = pytest.mark.slow

CLEAN_S = 10.0
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


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with local_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running


def test_a_clean_run_pages_nobody_and_a_spike_on_one_host_pages_once_for_the_fleet(
        fleet: Fleet) -> None:
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


BAD = "def run(inputs, ctx):\n    raise RuntimeError('1.1.0 fails every execution')\n"
GOOD = "def run(inputs, ctx):\n    return {'ok': True}\n"
CLI = [PLUGINOPS, "fleet", "rollout"]


def publish_versions(fleet: Fleet, root: Path) -> None:
    """chaos-monkey 1.1.0 (healthy, every execution fails) and 1.2.0 (fine), published with the
    first host's key into its registry, which every host's registry then mirrors."""
    homes = sorted(fleet.folder.glob("home-*"))
    for version, code in (("1.1.0", BAD), ("1.2.0", GOOD)):
        folder = root / f"{FAULT_PLUGIN}-{version}"
        folder.mkdir(parents=True)
        (folder / "plugin.json").write_text(json.dumps({
            "name": FAULT_PLUGIN, "version": version, "type": "node", "host": "^2.0.0",
            "api": "4.0", "entrypoint": "chaos:run"}))
        (folder / "chaos.py").write_text(code)
        done = subprocess.run([PLUGINOPS, "publish", str(folder), "--home", str(homes[0])],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    for home in homes[1:]:
        shutil.rmtree(Layout(home).default_registry)
        shutil.copytree(Layout(homes[0]).default_registry, Layout(home).default_registry)


def hosts_file(fleet: Fleet, root: Path) -> Path:
    entries = []
    for name, host in fleet.hosts.items():
        (root / f"{name}.token").write_text(host.token)
        entries.append({"name": name, "url": host.url, "token_file": str(root / f"{name}.token")})
    path = root / "hosts.yml"
    path.write_text(yaml.safe_dump({"hosts": entries}))
    return path


def versions(fleet: Fleet) -> dict[str, str]:
    out = {}
    for name, host in fleet.hosts.items():
        request = urllib.request.Request(f"{host.url}/v1/plugins/{FAULT_PLUGIN}",
                                         headers={"Authorization": f"Bearer {host.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            out[name] = json.loads(answer.read())["version"]
    return out


def test_a_canary_burning_its_budget_is_rolled_back_and_a_good_version_reaches_every_host(
        fleet: Fleet, tmp_path: Path) -> None:
    publish_versions(fleet, tmp_path / "src")
    hosts = hosts_file(fleet, tmp_path)
    home = tmp_path / "coordinator"
    common = ["--hosts", str(hosts), "--store", fleet.store, "--home", str(home)]
    traffic = [Traffic(h.url, FAULT_PLUGIN, h.rate, h.token).start()
               for h in fleet.hosts.values()]
    try:
        bad = subprocess.run([*CLI, f"{FAULT_PLUGIN}@1.1.0", "--gate-seconds", "60", *common],
                             capture_output=True, text=True, timeout=300)
        after_bad = versions(fleet)

        # a good version; the coordinator is killed while it watches the canary's wave
        first = subprocess.Popen([*CLI, f"{FAULT_PLUGIN}@1.2.0", "--gate-seconds", "5",
                                  *common], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        wait_until(lambda: gate_opened(home), True, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        resumed = subprocess.run([*CLI, f"{FAULT_PLUGIN}@1.2.0", "--gate-seconds", "5",
                                  *common], capture_output=True, text=True, timeout=300)
    finally:
        for one in traffic:
            one.stop()

    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "rolled back (FLEET_GATE_FAILED: wave 1 (a): error ratio 100.0%" in bad.stdout
    assert after_bad == {"a": "1.0.0", "b": "1.0.0", "c": "1.0.0"}  # b and c never took it
    record = Rollouts(Layout(home).rollouts_db)
    try:
        failed, good = record.history(FAULT_PLUGIN)
        steps = {s.host: (s.state, s.previous) for s in record.steps(failed.id)}
        gate = record.gate(failed.id, 0)
    finally:
        record.close()
    assert steps == {"a": ("rolled_back", "1.0.0"), "b": ("pending", None),
                     "c": ("pending", None)}
    assert gate is not None and gate.outcome == "failed"
    assert gate.evidence["likelihood_ratio"] >= 100  # 1 / alpha

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming rollout {good.id[:12]}" in resumed.stderr
    assert good.state == "completed"
    assert versions(fleet) == {"a": "1.2.0", "b": "1.2.0", "c": "1.2.0"}


def gate_opened(home: Path) -> bool:
    if not Layout(home).rollouts_db.exists():
        return False
    record = Rollouts(Layout(home).rollouts_db)
    try:
        latest = record.latest(FAULT_PLUGIN)
        return latest is not None and latest.version == "1.2.0" and \
            record.gate(latest.id, 0) is not None
    finally:
        record.close()
