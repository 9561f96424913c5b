"""Building `promtool test rules` files from Python, so each scenario states its traffic and the
exact evaluation at which an alert must (or must not) fire."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from alerts import conventions as c
from contracts.catalogue import PLUGIN_EXECUTION_DURATION, PLUGIN_EXECUTIONS

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "alerts" / "generated" / "rules.yml"
UP = f'up{{job="{c.RUNTIME_JOB}", instance="runtime:8080"}}'


def counter(increments: list[int | float], start: float = 0) -> str:
    """A counter's values, one per interval, from its increments."""
    values, total = [start], start
    for step in increments:
        total += step
        values.append(total)
    return " ".join(f"{v:g}" for v in values)


def constant(value: float, count: int) -> str:
    return f"{value:g}+0x{count}"


def executions(plugin: str, plugin_type: str, outcome: str) -> str:
    return (f'{PLUGIN_EXECUTIONS.name}{{plugin="{plugin}", plugin_type="{plugin_type}", '
            f'version="1.0.0", outcome="{outcome}", job="{c.RUNTIME_JOB}"}}')


def bucket(plugin: str, plugin_type: str, le: str) -> str:
    return (f'{PLUGIN_EXECUTION_DURATION.name}_bucket{{plugin="{plugin}", '
            f'plugin_type="{plugin_type}", le="{le}", job="{c.RUNTIME_JOB}"}}')


def hist_count(plugin: str, plugin_type: str) -> str:
    return (f'{PLUGIN_EXECUTION_DURATION.name}_count{{plugin="{plugin}", '
            f'plugin_type="{plugin_type}", job="{c.RUNTIME_JOB}"}}')


def firing(alert: str, at: str, expected: list[dict[str, str]],
           severity: str | None = None) -> dict[str, Any]:
    """A check that exactly `expected` instances of `alert` (of `severity`) fire at `at`."""
    only = f', severity="{severity}"' if severity else ""
    return {
        "expr": f'count by (alertname, severity, plugin) (ALERTS{{alertname="{alert}", '
                f'alertstate="firing"{only}}})',
        "eval_time": at,
        "exp_samples": [{"labels": "{" + ", ".join(
            f'{k}="{v}"' for k, v in sorted({"alertname": alert, **e}.items())) + "}",
            "value": 1} for e in expected],
    }


def run_promtool(tmp: Path, interval: str, series: dict[str, str],
                 checks: list[dict[str, Any]], alert_tests: list[dict[str, Any]] | None = None,
                 groups: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` over the committed rules (only the rule `groups` named, when a
    long series makes evaluating every group slow and the test reads only these)."""
    rules = RULES
    if groups:
        data = yaml.safe_load(RULES.read_text())
        data["groups"] = [g for g in data["groups"] if g["name"] in groups]
        assert len(data["groups"]) == len(groups), groups
        rules = tmp / "rules.yml"
        rules.write_text(yaml.safe_dump(data, sort_keys=False, width=10_000))
    test = {"rule_files": [str(rules)], "evaluation_interval": interval, "tests": [{
        "interval": interval,
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "promql_expr_test": checks,
        "alert_rule_test": alert_tests or [],
    }]}
    path = tmp / "test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False, width=10_000))
    return subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=600)
