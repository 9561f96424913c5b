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
  installed plugins otherwise;
- `pluginops_install_phase_duration_seconds{phase}`: the durations of the completed phases, from
  the journal's append-only `phase_completed` events, read incrementally (only the events after
  the last one seen).

Values of `plugin` past PLUGIN_LABEL_CAP (by name) are folded into OVERFLOW_PLUGIN."""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from contracts.catalogue import (
    INSTALL_IN_PROGRESS,
    INSTALL_PHASE_DURATION,
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
PHASES_AFTER = """SELECT seq, phase, detail FROM events
                  WHERE kind = 'phase_completed' AND seq > ? ORDER BY seq"""
LAST_EVENT = "SELECT COALESCE(MAX(seq), 0) FROM events"


def _counter(spec: MetricSpec) -> CounterMetricFamily:
    return CounterMetricFamily(spec.name.removesuffix("_total"), spec.help,
                               labels=list(spec.labels))


def _gauge(spec: MetricSpec) -> GaugeMetricFamily:
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


def _histogram() -> HistogramMetricFamily:
    return HistogramMetricFamily(INSTALL_PHASE_DURATION.name, INSTALL_PHASE_DURATION.help,
                                 labels=list(INSTALL_PHASE_DURATION.labels))


class PhaseDurations:
    """Bucket counts and sums per phase, fed with durations one at a time."""

    def __init__(self) -> None:
        self.bounds = tuple(float(b) for b in INSTALL_PHASE_DURATION.buckets)
        self.counts: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        self.last_seq = 0

    def observe(self, phase: str, seconds: float) -> None:
        counts = self.counts.setdefault(phase, [0] * (len(self.bounds) + 1))
        counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sums[phase] = self.sums.get(phase, 0.0) + seconds

    def family(self) -> HistogramMetricFamily:
        family = _histogram()
        for phase in sorted(self.counts):
            running, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), self.counts[phase],
                                    strict=True):
                running += count
                buckets.append((floatToGoString(bound), running))  # type: ignore[no-untyped-call]
            family.add_metric([phase], buckets, self.sums[phase])
        return family


class JournalMetrics(Collector):
    def __init__(self, journal: Path, cap: int = PLUGIN_LABEL_CAP) -> None:
        self.journal = journal
        self.cap = cap
        self._lock = threading.Lock()
        self._phases = PhaseDurations()

    def _rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], set[str], set[str]]:
        if not self.journal.exists():  # nothing installed yet: no journal, no counts
            self._phases = PhaseDurations()
            return [], [], set(), set()
        db = sqlite3.connect(str(self.journal), timeout=5)
        try:
            self._read_phases(db)
            return (db.execute(FINISHED).fetchall(), db.execute(ROLLED_BACK).fetchall(),
                    {r[0] for r in db.execute(RUNNING)}, {r[0] for r in db.execute(INSTALLED)})
        finally:
            db.close()

    def _read_phases(self, db: sqlite3.Connection) -> None:
        """Events are append-only (the journal's triggers refuse updates and deletes): only
        those after the last one seen are read. A journal with fewer events was replaced."""
        if db.execute(LAST_EVENT).fetchone()[0] < self._phases.last_seq:
            self._phases = PhaseDurations()
        for seq, phase, detail in db.execute(PHASES_AFTER, (self._phases.last_seq,)):
            self._phases.last_seq = seq
            try:
                seconds = float(json.loads(detail)["duration_s"])
            except (ValueError, KeyError, TypeError):
                continue  # an event without a duration counts nothing
            self._phases.observe(str(phase), seconds)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            finished, rolled_back, running, installed = self._rows()
            phases = self._phases.family()
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
        yield from (*families, in_progress, phases)

    def describe(self) -> Iterable[Metric]:
        return [_counter(INSTALL_TRANSACTIONS), _counter(ROLLBACKS), _gauge(INSTALL_IN_PROGRESS),
                _histogram()]
