"""VictoriaMetrics holding a recording's samples, sent through vmagent's import API (vmagent
remote-writes them to the store, as it would what it scrapes), and the generated recording
rules evaluated over them by vmalert, the store's ruler, in replay mode. A rule that reads
another rule's series needs that series stored first: rules are replayed level by level, each
level waited for before the next reads it."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from stack.processes import VMALERT, require, victoria_metrics, vmagent
from tests.evaluator_support import HISTORY_RULES, instant, levels, recording_rules

CHUNK_BYTES = 16 << 20  # under vmagent's 32 MB limit on one import request
DEADLINE_S = 120.0


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def post_file(url: str, source: Path) -> int:
    """Post an OpenMetrics file to an import endpoint in whole-line chunks; its sample count."""
    samples = 0
    with source.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            if not chunk:
                break
            chunk += handle.readline()  # whole lines only
            samples += sum(1 for line in chunk.splitlines()
                           if line and not line.startswith(b"#"))
            request = urllib.request.Request(f"{url}/api/v1/import/prometheus", data=chunk,
                                             method="POST")
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 204, response.status
    return samples


def wait_until(url: str, query: str, at: float, expected: float) -> None:
    """Until `query` at `at` answers `expected` (what was written has become searchable)."""
    deadline = time.monotonic() + DEADLINE_S
    seen: Any = None
    while time.monotonic() < deadline:
        result = instant(url, query, at)
        seen = float(result[0]["value"][1]) if result else 0.0  # count() of nothing
        if seen == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"{query} at {at} is {seen}, not {expected}, after {DEADLINE_S:g} s")


def replay(store: str, rules: list[dict[str, Any]], start: float, end: float,
           folder: Path, name: str) -> None:
    """vmalert evaluates `rules` every minute over [start, end] and writes the results back to
    the store; returns once every recorded series has its sample at `end` searchable."""
    rule_file = folder / f"{name}.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": name, "interval": "1m",
                                                     "rules": rules}]}))
    done = subprocess.run(
        [require(VMALERT), f"-rule={rule_file}", f"-datasource.url={store}",
         f"-remoteWrite.url={store}", f"-replay.timeFrom={_rfc3339(start)}",
         f"-replay.timeTo={_rfc3339(end)}", "-replay.maxDatapointsPerQuery=10000",
         "-replay.rulesDelay=0s", "-replay.disableProgressBar", "-datasource.queryStep=1m",
         "-loggerLevel=WARN", "-httpListenAddr=127.0.0.1:0"],
        capture_output=True, text=True, timeout=DEADLINE_S)
    if done.returncode:
        raise AssertionError(f"vmalert replay failed: {done.stderr[-3000:]}")
    for record in sorted({r["record"] for r in rules}):
        expected = len(instant(store, _source_of(rules, record), end))
        wait_until(store, f"count({record})", end, float(expected))


def _source_of(rules: list[dict[str, Any]], record: str) -> str:
    """A query answering one series per series the rules recording `record` write."""
    parts = [f"label_replace({r['expr']}, 'record_rule', '{i}', '', '')"
             for i, r in enumerate(rules) if r["record"] == record]
    return " or ".join(f"({p})" for p in parts)


@contextmanager
def victoria_metrics_with_rules(folder: Path, openmetrics_file: Path, rules_file: Path,
                                start: float, at: float) -> Iterator[str]:
    """VictoriaMetrics holding the file's samples (through vmagent) and the rules' values: the
    rules whose history later rules sum over the whole range, the others over the last minutes
    before `at`, level by level."""
    with victoria_metrics(folder / "store") as store:
        with vmagent(folder / "agent", f"{store}/api/v1/write") as agent:
            samples = post_file(agent, openmetrics_file)
            # vmagent forwards in the background: every sample must be in the store (counted
            # an hour after the recording's last instant) before vmagent stops
            wait_until(store, 'sum(count_over_time({__name__=~"pluginops_.+"}[100d]))',
                       at + 3600, float(samples))
        stages = levels(recording_rules(rules_file))
        history = [r for r in stages[0] if r["record"] in HISTORY_RULES]
        later = [[r for r in stages[0] if r["record"] not in HISTORY_RULES], *stages[1:]]
        replay(store, history, start, at, folder, "history")
        for index, rules in enumerate(r for r in later if r):
            replay(store, rules, at - 120, at, folder, f"level{index}")
        yield store
