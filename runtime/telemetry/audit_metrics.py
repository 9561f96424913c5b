"""Policy denials counted from the audit log, which every process appends to (`pluginops serve`,
`pluginops run`, health checks during installs from the CLI), not from counters held by the one
process that happened to see the denial.

`pluginops_policy_denials_total{plugin, profile, operation}` is the number of `denial` records in
the log. The collector remembers how far it has read: a scrape reads only the bytes appended
since the last one (whole lines only: a line still being written waits for the next scrape), so
its cost follows the new records, not the size of the log. The first scrape after a start reads
the log once from the beginning; a log that became shorter (replaced from a backup) is read again
from the start. Values of `plugin` past PLUGIN_LABEL_CAP (by name) are folded into
OVERFLOW_PLUGIN."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts.catalogue import OVERFLOW_PLUGIN, PLUGIN_LABEL_CAP, POLICY_DENIALS

DENIAL = "denial"
MARK = b'"kind": "denial"'  # how json.dumps(sort_keys=True) spells a denial: a cheap pre-filter


def _family() -> CounterMetricFamily:
    return CounterMetricFamily(POLICY_DENIALS.name.removesuffix("_total"), POLICY_DENIALS.help,
                               labels=list(POLICY_DENIALS.labels))


class AuditMetrics(Collector):
    def __init__(self, audit_log: Path, cap: int = PLUGIN_LABEL_CAP) -> None:
        self.path = audit_log
        self.cap = cap
        self._lock = threading.Lock()
        self._offset = 0
        self._denials: Counter[tuple[str, str, str]] = Counter()

    def _read_new(self) -> None:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            self._offset, self._denials = 0, Counter()
            return
        with handle:
            size = handle.seek(0, 2)
            if size < self._offset:  # replaced by a shorter file: count it afresh
                self._offset, self._denials = 0, Counter()
            handle.seek(self._offset)
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # being written (or torn): its turn comes when it is whole
                self._offset += len(line)
                if MARK in line:
                    self._count(line)

    def _count(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            return  # `pluginops audit verify` reports it; a scrape counts what it can read
        if isinstance(record, dict) and record.get("kind") == DENIAL:
            self._denials[(str(record.get("plugin", "")), str(record.get("profile", "")),
                           str(record.get("operation", "")))] += 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self._read_new()
            counts = dict(self._denials)
        kept = set(sorted({plugin for plugin, _, _ in counts})[:self.cap])
        folded: Counter[tuple[str, str, str]] = Counter()
        for (plugin, profile, operation), count in counts.items():
            folded[(plugin if plugin in kept else OVERFLOW_PLUGIN, profile, operation)] += count
        family = _family()
        for labels, count in sorted(folded.items()):
            family.add_metric(list(labels), count)
        yield family

    def describe(self) -> Iterable[Metric]:
        return [_family()]
