"""A fleet on loopback: several `pluginops serve` hosts, found by vmagent in file-based discovery
files and remote-written into VictoriaMetrics, whose ruler (vmalert) evaluates the committed
`alerts/generated/rules.yml` and notifies Alertmanager, which delivers to a webhook sink.

The topology and flags are those of compose's `fleet` profile (dashboards/store.py), with the
fast profile's timing (scrape and evaluation every second). Six hours of clean history of the
fault plugin, per host at that host's rate, and three days of its recorded fleet rates are
imported into the store first, so the SLO windows behave as in production.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from alerts import conventions as c
from alerts.generated_files import rules_yaml
from dashboards import store
from dashboards.stack import CLUSTER, runtime_targets
from runtime.auth.tokens import TokenStore
from stack import history
from stack.backfill import import_text
from stack.history import Plugin, Target
from stack.processes import (
    VICTORIA_METRICS,
    VMAGENT,
    VMALERT,
    child,
    free_port,
    get_json,
    require,
    wait_until,
)
from stack.sink import Sink
from stack.stack import FAULT_PLUGIN, Stack, alerting, prepare_home, start_runtime

FAST = store.Timing(scrape="1s", evaluation="1s", flush="1s", latency_offset="1s",
                    file_sd_check="1s")
RECORDED_STEP_S = 30.0  # three days of recorded rates, one sample every 30 s
DEFAULT_RATES = {"a": 16.0, "b": 2.0, "c": 2.0}  # executions a second of the fault plugin


@dataclass(frozen=True)
class Host:
    name: str
    url: str
    token: str  # an operator's API token on this host
    process: subprocess.Popen[bytes]
    rate: float


@dataclass(frozen=True)
class Fleet:
    hosts: dict[str, Host]
    store: str  # the Prometheus-compatible query API (VictoriaMetrics)
    alertmanager: str
    sink: Sink
    folder: Path

    def stack(self, host: str) -> Stack:
        """One host seen as a single-runtime stack, for the scenarios' waiting helpers."""
        chosen = self.hosts[host]
        return Stack(chosen.url, self.store, self.alertmanager, chosen.rate, self.sink,
                     chosen.process, self.folder, chosen.token)


def _homes(folder: Path, names: list[str]) -> dict[str, Path]:
    """The first host's home is prepared (keys, the examples published, the stack's plugins
    installed); the others are copies of it, as hosts installed from the same registry are."""
    first = folder / f"home-{names[0]}"
    prepare_home(first)
    homes = {names[0]: first}
    for name in names[1:]:
        homes[name] = folder / f"home-{name}"
        shutil.copytree(first, homes[name], symlinks=True)
    return homes


@contextmanager
def local_fleet(folder: Path, rates: dict[str, float] | None = None) -> Iterator[Fleet]:
    rates = dict(rates or DEFAULT_RATES)
    folder.mkdir(parents=True, exist_ok=True)
    homes = _homes(folder, list(rates))
    ports = {name: free_port() for name in rates}
    targets_dir = folder / "runtimes"
    targets_dir.mkdir()
    with ExitStack() as stack:
        sink, am_url = alerting(stack, folder)
        store_port = free_port()
        store_url = f"http://127.0.0.1:{store_port}"
        stack.enter_context(child(
            [require(VICTORIA_METRICS), *store.store_args(
                f"127.0.0.1:{store_port}", str(folder / "store"), FAST)],
            folder / "victoria-metrics.log", store_url))
        _import_history(store_url, ports, rates)
        hosts: dict[str, Host] = {}
        for name, home in homes.items():
            token, _ = TokenStore(home).create("fleet-traffic", "operator", "local-fleet")
            url, process = start_runtime(stack, folder, home, ports[name], f"runtime-{name}")
            hosts[name] = Host(name, url, token, process, rates[name])
            (targets_dir / f"{name}.yml").write_text(
                runtime_targets({name: f"127.0.0.1:{ports[name]}"}))
        agent_port = free_port()
        (folder / "scrape.yml").write_text(store.vmagent_yml(str(targets_dir), FAST))
        stack.enter_context(child(
            [require(VMAGENT), *store.vmagent_args(
                f"127.0.0.1:{agent_port}", str(folder / "scrape.yml"), store_url,
                str(folder / "vmagent-buffer"), FAST)],
            folder / "vmagent.log", f"http://127.0.0.1:{agent_port}"))
        # every host scraped into the store before the ruler starts judging the fleet
        wait_until(lambda: _scraped_hosts(store_url), set(rates))
        ruler_port = free_port()
        rules = folder / "rules.yml"  # the text committed as alerts/generated/rules.yml
        rules.write_text(rules_yaml())
        stack.enter_context(child(
            [require(VMALERT), *store.vmalert_args(
                f"127.0.0.1:{ruler_port}", str(rules), store_url, am_url, FAST)],
            folder / "vmalert.log", f"http://127.0.0.1:{ruler_port}"))
        yield Fleet(hosts, store_url, am_url, sink, folder)


def _import_history(store_url: str, ports: dict[str, int], rates: dict[str, float]) -> None:
    """Each host's counters labelled as vmagent will label its scrapes (job, instance, host,
    cluster), so live samples continue the same series; the recorded fleet rates labelled as
    vmalert writes them (with the cluster)."""
    targets = [Target({"job": c.RUNTIME_JOB, "instance": f"127.0.0.1:{port}", c.HOST: name,
                       "cluster": CLUSTER}, rates[name]) for name, port in ports.items()]
    found = history.families(Plugin(FAULT_PLUGIN, recorded_labels={"cluster": CLUSTER}),
                             targets, ("slo",), 0.0, time.time(), RECORDED_STEP_S)
    import_text(found, store_url)


def _scraped_hosts(store_url: str) -> set[str]:
    query = urllib.parse.urlencode({"query": f'up{{job="{c.RUNTIME_JOB}"}}'})
    answer = get_json(f"{store_url}/api/v1/query?{query}")
    return {r["metric"].get(c.HOST, "") for r in answer["data"]["result"]
            if r["value"][1] == "1"}
