"""The fleet's figures, measured on this machine:

1. series per plugin and per host, counted in the runtime's own `/metrics` exposition
   (`metrics_bench.runtime_registry`: the registry `serve` builds, every execution series of
   each plugin created as executions create them);
2. samples a second at `--plugins` x `--hosts`, at the generated 15 s scrape interval;
3. what Debian's VictoriaMetrics pays to ingest `--scrapes` scrapes of that fleet (wall time,
   its CPU seconds from /proc, samples a second) and to answer the generated rules' raw queries
   (the availability ratio's 5-minute and 1-hour rates, `sum by (plugin, plugin_type)` over every
   host), beside the same queries restricted to one host of the fleet (the baseline, same store,
   same run): the ratio is what a fleet costs over one host;
4. the time from a bad version's first execution to the fleet being back on the good one: a live
   three-host fleet (`stack.fleet`, vmagent, VictoriaMetrics, vmalert), `chaos-monkey 1.1.0`
   (every execution fails) rolled out with the default gate settings.

    .venv/bin/python bench/fleet_bench.py [--plugins 1000] [--hosts 10] [--scrapes 8] [--no-rollout]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics_bench import runtime_registry

from alerts import conventions as c
from contracts.catalogue import PLUGIN_EXECUTIONS
from contracts.files import workers_may_enter
from dashboards import store as store_flags
from dashboards.stack import CLUSTER
from stack.processes import VICTORIA_METRICS, child, free_port, get_json, require

SCRAPE_S = 15.0
CHUNK = 50_000


def exposition(plugins: int, home: Path) -> list[str]:
    registry, pool = runtime_registry(plugins, home)  # without `_created`, as `serve`
    try:
        text = generate_latest(registry).decode()
    finally:
        pool.close()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def per_plugin(lines: list[str]) -> tuple[int, int]:
    """Series of one plugin, and series a host exports whatever its plugins."""
    mine = sum(1 for line in lines if 'plugin="plugin-0000"' in line)
    return mine, sum(1 for line in lines if 'plugin="' not in line)


def fleet_lines(lines: list[str], hosts: int, scrapes: int, start: float) -> Iterator[str]:
    """Each host's exposition as the scraper labels it, at each scrape, counters moving on."""
    for k in range(scrapes):
        at = round((start + k * SCRAPE_S) * 1000)
        for h in range(hosts):
            extra = (f'{c.HOST}="h{h:02d}",instance="10.0.{h // 250}.{h % 250}:8080",'
                     f'job="{c.RUNTIME_JOB}",cluster="{CLUSTER}"')
            for line in lines:
                head, _, value = line.rpartition(" ")
                name, brace, labels = head.partition("{")
                labelled = f"{name}{{{extra},{labels}" if brace else f"{name}{{{extra}}}"
                yield f"{labelled} {float(value) + k} {at}"


def post(url: str, body: list[str]) -> None:
    request = urllib.request.Request(f"{url}/api/v1/import/prometheus",
                                     data=("\n".join(body) + "\n").encode(), method="POST")
    with urllib.request.urlopen(request, timeout=300):
        pass


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def query_s(url: str, expr: str, at: float) -> float:
    runs = []
    for _ in range(6):
        started = time.perf_counter()
        answer = get_json(f"{url}/api/v1/query?"
                          + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"}),
                          timeout=120)
        runs.append(time.perf_counter() - started)
        assert answer["status"] == "success", answer
    return statistics.median(runs[1:])  # the first fills caches


def store_figures(options: argparse.Namespace, lines: list[str], folder: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [require(VICTORIA_METRICS), *store_flags.store_args(
        f"127.0.0.1:{port}", str(folder / "store"), store_flags.Timing(latency_offset="1s")),
        "-search.disableCache", "-retentionPeriod=100y"]
    start = (time.time() // 3600 - 2) * 3600
    with child(command, folder / "victoria-metrics.log", url) as process:
        before, began, samples, batch = cpu_s(process.pid), time.perf_counter(), 0, []
        for line in fleet_lines(lines, options.hosts, options.scrapes, start):
            batch.append(line)
            if len(batch) == CHUNK:
                post(url, batch)
                samples, batch = samples + len(batch), []
        if batch:
            post(url, batch)
            samples += len(batch)
        with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=120):
            pass
        wall, spent = time.perf_counter() - began, cpu_s(process.pid) - before
        at = start + (options.scrapes - 1) * SCRAPE_S
        stored = get_json(f"{url}/api/v1/query?" + urllib.parse.urlencode(
            {"query": 'count({__name__=~"pluginops_.+"})', "time": f"{at:.3f}"}))
        series = int(float(stored["data"]["result"][0]["value"][1]))
        print(f"store: {series:,} series ({options.plugins} plugins x {options.hosts} hosts); "
              f"{samples:,} samples ingested in {wall:.1f} s wall ({samples / wall:,.0f}/s, "
              f"client included), {spent:.1f} s of the store's CPU "
              f"({samples / max(spent, 1e-9) / 1e6:.2f} M samples per CPU second)")
        print(f"{'query (at the last scrape)':<44} {'fleet':>9} {'one host':>9} {'ratio':>7}")
        name = PLUGIN_EXECUTIONS.name
        for window in ("5m", "1h"):
            for what, outcome in (("bad", ', outcome!="success"'), ("total", "")):
                fleet = f'sum by (plugin, plugin_type) (rate({name}{{plugin_type="node"' \
                        f'{outcome}}}[{window}]))'
                one = fleet.replace('plugin_type="node"', f'plugin_type="node", {c.HOST}="h00"')
                ours, theirs = query_s(url, fleet, at), query_s(url, one, at)
                print(f"{what + ' rate ' + window:<44} {ours * 1000:>6.0f} ms {theirs * 1000:>6.0f}"
                      f" ms {ours / theirs:>6.1f}x")


def rollout_figures(folder: Path) -> None:
    from alerts.generated_files import SLO_DIR
    from alerts.spec import load_slos
    from collector.query_api import QueryApi
    from fleet.coordinator import Coordinator, Plan
    from fleet.gate import GateSettings
    from fleet.hosts import FleetHost
    from runtime.rollouts import Rollouts
    from stack.fleet import local_fleet
    from stack.stack import FAULT_PLUGIN
    from stack.traffic import Traffic

    with local_fleet(folder / "fleet") as fleet:
        homes = sorted(fleet.folder.glob("home-*"))
        bad = folder / "chaos-monkey-1.1.0"
        bad.mkdir()
        (bad / "plugin.json").write_text(json.dumps({
            "name": FAULT_PLUGIN, "version": "1.1.0", "type": "node", "host": "^2.0.0",
            "api": "4.0", "entrypoint": "chaos:run"}))
        (bad / "chaos.py").write_text("def run(inputs, ctx):\n    raise RuntimeError('bad')\n")
        exe = str(Path(sys.executable).parent / "pluginops")
        for home in homes:
            subprocess.run([exe, "publish", str(bad), "--home", str(home)], check=True,
                           capture_output=True, timeout=120)
        traffic = [Traffic(h.url, FAULT_PLUGIN, h.rate, h.token).start()
                   for h in fleet.hosts.values()]
        record = Rollouts(folder / "rollouts.db")
        try:
            hosts = [FleetHost(h.name, h.url, h.token) for h in fleet.hosts.values()]
            coordinator = Coordinator(record, hosts, QueryApi(fleet.store), load_slos(SLO_DIR))
            rollout = coordinator.start_or_resume(FAULT_PLUGIN, "1.1.0", Plan(), GateSettings())
            began = time.time()
            done = coordinator.run(rollout)
            events = record.events(done.id)
        finally:
            for one in traffic:
                one.stop()
            record.close()
    at = {kind: when for when, kind, _ in events}
    updated, rolled = at["step_updated"], at["step_rolled_back"]
    gate_failed = at["gate_failed"]
    print(f"rollout of a bad version on 3 hosts (default gate: 2 s polls): {done.state}; "
          f"canary updated after {updated - began:.2f} s; its first failing executions to the "
          f"gate failing {gate_failed - updated:.2f} s; to the canary back on the good version "
          f"{rolled - updated:.2f} s (the other hosts never took it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=8)
    parser.add_argument("--no-rollout", action="store_true")
    options = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="pluginops-fleet-bench-") as tmp:
        folder = workers_may_enter(Path(tmp))  # sandbox workers read the hosts' plugins
        lines = exposition(options.plugins, folder / "home")
        plugin_series, host_series = per_plugin(lines)
        series = plugin_series * options.plugins + host_series
        print(f"series: {plugin_series} per plugin per host, {host_series} per host besides; "
              f"{series:,} per host at {options.plugins} plugins, "
              f"{series * options.hosts:,} for {options.hosts} hosts; "
              f"{series * options.hosts / SCRAPE_S:,.0f} samples/s at a {SCRAPE_S:g} s scrape")
        store_figures(options, lines, folder)
        if not options.no_rollout:
            rollout_figures(folder)


if __name__ == "__main__":
    main()
