"""Bake counters read from the durable record (`bakes.db`) at scrape time, so a bake decided by
any process (another runtime serving the same home) counts once, across restarts:

- `pluginops_bakes_total{plugin, outcome}`: finished bakes by outcome (promoted, rolled_back,
  ended);
- `pluginops_bake_in_progress{plugin}`: 1 while the plugin bakes, 0 for plugins that baked
  before.

Values of `plugin` past PLUGIN_LABEL_CAP (by name) are folded into OVERFLOW_PLUGIN."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts.catalogue import BAKE_IN_PROGRESS, BAKES, OVERFLOW_PLUGIN, PLUGIN_LABEL_CAP
from runtime.bake.store import BAKING

FINISHED = f"SELECT plugin, state, COUNT(*) FROM bakes WHERE state != '{BAKING}' " \
           "GROUP BY plugin, state"
PLUGINS = f"SELECT plugin, MAX(state = '{BAKING}') FROM bakes GROUP BY plugin"


def _families() -> tuple[CounterMetricFamily, GaugeMetricFamily]:
    return (CounterMetricFamily(BAKES.name.removesuffix("_total"), BAKES.help,
                                labels=list(BAKES.labels)),
            GaugeMetricFamily(BAKE_IN_PROGRESS.name, BAKE_IN_PROGRESS.help,
                              labels=list(BAKE_IN_PROGRESS.labels)))


class BakeMetrics(Collector):
    def __init__(self, bakes_db: Path, cap: int = PLUGIN_LABEL_CAP) -> None:
        self.path = bakes_db
        self.cap = cap

    def collect(self) -> Iterator[Metric]:
        finished: list[tuple[str, str, int]] = []
        plugins: list[tuple[str, int]] = []
        if self.path.exists():  # no bake yet: no file, no series
            db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True,
                                 timeout=5)
            try:
                finished = db.execute(FINISHED).fetchall()
                plugins = db.execute(PLUGINS).fetchall()
            finally:
                db.close()
        kept = set(sorted(p for p, _ in plugins)[:self.cap])

        def label(plugin: str) -> str:
            return plugin if plugin in kept else OVERFLOW_PLUGIN

        totals: Counter[tuple[str, str]] = Counter()
        for plugin, state, count in finished:
            totals[(label(plugin), state)] += int(count)
        baking: dict[str, float] = {}
        for plugin, in_progress in plugins:
            baking[label(plugin)] = max(baking.get(label(plugin), 0.0), float(in_progress))
        counter, gauge = _families()
        for labels, count in sorted(totals.items()):
            counter.add_metric(list(labels), count)
        for plugin, value in sorted(baking.items()):
            gauge.add_metric([plugin], value)
        yield from (counter, gauge)

    def describe(self) -> Iterable[Metric]:
        return list(_families())
