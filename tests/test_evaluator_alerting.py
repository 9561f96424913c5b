"""The evaluator in the alerting path: Prometheus scrapes `pluginops evaluate --serve`, and the
generated `PluginCostAnomaly` rule raises a ticket on the evaluator's score for the plugin whose
cost per success jumped, and for no other."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from alerts import conventions as c
from alerts.render import to_yaml
from alerts.rules import generate
from alerts.spec import load_slos
from collector import parquet
from collector import synthetic as syn
from stack.processes import free_port, get_json, prometheus
from stack.stack import FAST_RULES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PLUGINOPS = str(Path(sys.executable).parent / "pluginops")


def _firing(url: str) -> list[dict[str, str]]:
    query = urlencode({"query": f'ALERTS{{alertname="{c.COST_ANOMALY}", alertstate="firing"}}'})
    return [r["metric"] for r in get_json(f"{url}/api/v1/query?{query}")["data"]["result"]]


def test_the_cost_alert_fires_on_the_evaluators_score_for_that_plugin_only(
        tmp_path: Path) -> None:
    at = (int(time.time()) // 3600) * 3600
    plugins = syn.profiles(4, seed=12)
    spiking = next(p for p in plugins if p.cost_per_success > 0)
    fleet = syn.Fleet(at - 10 * 86400, at, 60, plugins,
                      (syn.Incident(spiking.name, "cost", at - 3 * 3600, at, 4.0),), seed=6)
    cache = tmp_path / "cache"
    parquet.write(syn.telemetry(fleet), cache, {"start": fleet.start_s, "end": at})
    port = free_port()
    evaluator = subprocess.Popen(
        [PLUGINOPS, "evaluate", "--serve", "--parquet", str(cache), "--listen",
         f"127.0.0.1:{port}", "--interval", "3600"], stderr=subprocess.DEVNULL)
    rules = tmp_path / "rules.yml"
    generated = generate(load_slos(REPO / "alerts" / "slos"), FAST_RULES)
    generated["groups"] = [g for g in generated["groups"] if g["name"] == c.group("cost")]
    rules.write_text(to_yaml(generated))
    config = yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "scrape_configs": [{"job_name": "pluginops-evaluator",
                            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]})
    try:
        with prometheus(tmp_path / "prom", config, [rules]) as url:
            deadline = time.monotonic() + 120
            firing: list[dict[str, str]] = []
            while time.monotonic() < deadline and not firing:
                time.sleep(1)
                firing = _firing(url)
            assert [(a["plugin"], a["source"]) for a in firing] == [(spiking.name, "evaluator")]
            time.sleep(3)
            assert [a["plugin"] for a in _firing(url)] == [spiking.name]
    finally:
        evaluator.terminate()
        evaluator.wait(timeout=15)
