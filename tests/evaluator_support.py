"""A real Prometheus holding the same samples as an OpenMetrics file, with the recording rules'
values computed by Prometheus itself (see `prometheus_with_rules`). A rule that reads another
rule needs that one's samples stored first, so the rules go in dependency levels, restarting
Prometheus between levels."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from alerts import conventions as c
from stack.backfill import MAX_BLOCK
from stack.processes import get_json, prometheus, require

RECORDED = re.compile(r"pluginops:[a-z0-9_:]+")
HISTORY_RULES = (c.BAD_RATE, c.TOTAL_RATE)  # read over the whole period by later rules
CONFIG = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n"


def recording_rules(rules_file: Path) -> list[dict[str, Any]]:
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    return [r for g in groups for r in g["rules"] if "record" in r]


def levels(rules: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rules by dependency level: level 0 reads raw series only."""
    level: dict[str, int] = {}
    remaining = list(rules)
    while remaining:
        progressed = []
        for rule in remaining:
            needs = set(RECORDED.findall(rule["expr"])) - {rule["record"]}
            if all(n in level for n in needs):
                level[rule["record"]] = max((level[n] + 1 for n in needs), default=0)
                progressed.append(rule)
        if not progressed:
            raise AssertionError(f"cyclic rules: {[r['record'] for r in remaining]}")
        remaining = [r for r in remaining if r not in progressed]
    by_level: dict[int, list[dict[str, Any]]] = {}
    for rule in rules:
        by_level.setdefault(level[rule["record"]], []).append(rule)
    return [by_level[k] for k in sorted(by_level)]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise AssertionError(f"{' '.join(command[:4])} failed: {done.stderr[-3000:]}")


def backfill_openmetrics(source: Path, tsdb: Path) -> None:
    _run([require("promtool"), "tsdb", "create-blocks-from", "openmetrics", MAX_BLOCK,
          str(source), str(tsdb)])


def backfill_rules(url: str, rules: list[dict[str, Any]], start: int, end: int, folder: Path,
                   blocks: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rule_file = folder / "rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "backfill", "interval": "1m",
                                                     "rules": rules}]}))
    _run([require("promtool"), "tsdb", "create-blocks-from", "rules", f"--url={url}",
          f"--start={start}", f"--end={end}", "--eval-interval=60s",
          f"--output-dir={blocks}", "--quiet", str(rule_file)])


def _gauge_lines(name: str, results: list[dict[str, Any]], labels: dict[str, str],
                 at_ms: int) -> list[str]:
    lines = []
    for result in results:
        pairs = {**result["metric"], **labels}
        pairs.pop("__name__", None)
        body = ",".join(f'{k}="{v}"' for k, v in sorted(pairs.items()))
        lines.append(f"{name}{{{body}}} {result['value'][1]} {at_ms / 1000:.3f}")
    return lines


@contextmanager
def prometheus_with_rules(folder: Path, openmetrics_file: Path, rules_file: Path,
                          start: int, at: int) -> Iterator[tuple[str, int]]:
    """Prometheus holding the file's samples and every recording rule's value, and the rule
    evaluation instant (ms) closest before `at`.

    The 5m rates the long windows sum are backfilled over the whole range by promtool (whose
    instants carry the group's hash offset, as in a live Prometheus). Every other rule is
    evaluated by Prometheus' engine at the last of those instants, level by level, each level's
    results written back as samples before the next level reads them."""
    tsdb = folder / "prom" / "tsdb"
    backfill_openmetrics(openmetrics_file, tsdb)
    stages = levels(recording_rules(rules_file))
    history = [r for r in stages[0] if r["record"] in HISTORY_RULES]
    later = [[r for r in stages[0] if r["record"] not in HISTORY_RULES], *stages[1:]]
    blocks = folder / "history" / "blocks"
    with prometheus(folder / "prom", CONFIG, []) as url:
        backfill_rules(url, history, start, at, folder / "history", blocks)
    for block in blocks.iterdir():  # loaded when Prometheus starts next
        shutil.move(str(block), tsdb / block.name)
    at_ms: int | None = None
    for index, rules in enumerate(r for r in later if r):
        with prometheus(folder / "prom", CONFIG, []) as url:
            if at_ms is None:
                points = instant(url, f"{c.TOTAL_RATE}[5m]", at)[0]["values"]
                at_ms = round(float(points[-1][0]) * 1000)
            lines = []
            for rule in rules:
                lines += _gauge_lines(rule["record"], instant(url, rule["expr"], at_ms / 1000),
                                      rule.get("labels", {}), at_ms)
        stage = folder / f"stage{index}.om"
        stage.write_text("\n".join(lines) + "\n# EOF\n")
        backfill_openmetrics(stage, tsdb)
    assert at_ms is not None
    with prometheus(folder / "prom", CONFIG, []) as url:
        yield url, at_ms


def instant(url: str, query: str, at: float) -> list[dict[str, Any]]:
    from urllib.parse import urlencode

    data = get_json(f"{url}/api/v1/query?{urlencode({'query': query, 'time': at})}")
    return list(data["data"]["result"])
