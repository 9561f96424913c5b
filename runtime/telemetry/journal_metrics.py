"""Install, update, rollback and uninstall counters read from the durable record: the journal,
which every process writes (the CLI, `pluginops serve`, the compose `setup` job), not counters
held by the one process that happened to run the operation. Read at scrape time, with three
grouped queries over the transactions table (thousands of rows: well under a millisecond of
SQLite each), so an operation counts once, in whichever process, across restarts.

- `pluginops_install_transactions_total{plugin, operation, outcome}`: finished transactions by
  their final state (an install waiting for a second person's approval is `awaiting_approval`);
- `pluginops_rollbacks_total{plugin, phase, reason}`: transactions rolled back, by the phase
  they failed in and the error code;
- `pluginops_install_in_progress{plugin}`: 1 while a transaction of the plugin runs, 0 for the
  installed plugins otherwise.

Values of `plugin` past PLUGIN_LABEL_CAP (by name) are folded into OVERFLOW_PLUGIN."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts.catalogue import (
    INSTALL_IN_PROGRESS,
    INSTALL_TRANSACTIONS,
    OVERFLOW_PLUGIN,
    PLUGIN_LABEL_CAP,
    ROLLBACKS,
    MetricSpec,
)
from contracts.outcomes import TransactionState

FINISHED = """SELECT plugin, operation, state, COUNT(*) FROM transactions
              WHERE state != 'running' GROUP BY plugin, operation, state"""
ROLLED_BACK = """SELECT plugin, COALESCE(phase, 'none'), COALESCE(error_code, ''), COUNT(*)
                 FROM transactions WHERE state = 'rolled_back'
                 GROUP BY plugin, phase, error_code"""
RUNNING = "SELECT DISTINCT plugin FROM transactions WHERE state = 'running'"
INSTALLED = "SELECT plugin FROM installed"


def _counter(spec: MetricSpec) -> CounterMetricFamily:
    return CounterMetricFamily(spec.name.removesuffix("_total"), spec.help,
                               labels=list(spec.labels))


def _gauge(spec: MetricSpec) -> GaugeMetricFamily:
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


class JournalMetrics(Collector):
    def __init__(self, journal: Path, cap: int = PLUGIN_LABEL_CAP) -> None:
        self.journal = journal
        self.cap = cap

    def _rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], set[str], set[str]]:
        if not self.journal.exists():  # nothing installed yet: no journal, no counts
            return [], [], set(), set()
        db = sqlite3.connect(str(self.journal), timeout=5)
        try:
            return (db.execute(FINISHED).fetchall(), db.execute(ROLLED_BACK).fetchall(),
                    {r[0] for r in db.execute(RUNNING)}, {r[0] for r in db.execute(INSTALLED)})
        finally:
            db.close()

    def collect(self) -> Iterator[Metric]:
        finished, rolled_back, running, installed = self._rows()
        named = sorted({r[0] for r in finished} | {r[0] for r in rolled_back} | running |
                       installed)[:self.cap]
        kept = set(named)

        def label(plugin: str) -> str:
            return plugin if plugin in kept else OVERFLOW_PLUGIN

        transactions: Counter[tuple[str, str, str]] = Counter()
        for plugin, operation, state, rows in finished:
            transactions[(label(plugin), operation, TransactionState(state))] += int(rows)
        rollbacks: Counter[tuple[str, str, str]] = Counter()
        for plugin, phase, reason, rows in rolled_back:
            rollbacks[(label(plugin), phase, reason)] += int(rows)
        families: list[Metric] = [_counter(INSTALL_TRANSACTIONS), _counter(ROLLBACKS)]
        for labels, count in sorted(transactions.items()):
            families[0].add_metric(list(labels), count)  # type: ignore[attr-defined]
        for labels, count in sorted(rollbacks.items()):
            families[1].add_metric(list(labels), count)  # type: ignore[attr-defined]
        in_progress = _gauge(INSTALL_IN_PROGRESS)
        flags: dict[str, float] = {}
        for plugin in installed | running:
            flags[label(plugin)] = max(flags.get(label(plugin), 0.0),
                                       1.0 if plugin in running else 0.0)
        for plugin, flag in sorted(flags.items()):
            in_progress.add_metric([plugin], flag)
        yield from (*families, in_progress)

    def describe(self) -> Iterable[Metric]:
        return [_counter(INSTALL_TRANSACTIONS), _counter(ROLLBACKS), _gauge(INSTALL_IN_PROGRESS)]
