"""The KPI counters (`contracts.catalogue.KPI_METRICS`) read from the durable records at scrape
time, so operations of every process count (the CLI, `serve`, a drill, a release gate):

- `pluginops_install_failures_total{operation, cause}`, `pluginops_compatibility_diagnoses_total`
  and `..._diagnosis_seconds_total` from the journal;
- `pluginops_failed_updates_total{recovery}` from the journal and the bakes;
- `pluginops_first_install_grants_total{risk}` from the approvals and the journal;
- `pluginops_plugins_installed{profile}` and `pluginops_partial_installs` from the journal and
  the plugin folders (the consistency check runs at most once a minute);
- `pluginops_drill_incidents_total{result}`, `..._drill_detection_seconds_total`
  from the drill records; `pluginops_gate_critical_scenarios_total{outcome}` from the
  release-gate records; `pluginops_registry_releases_total` and `..._hotfixes_total` from the
  registry's index (when the runtime has one); `pluginops_execution_cost_variance_ratio` from
  the metering record (with the consistency check, once a minute).

The records are read again only when one of their files changed since the last scrape, and the
counts computed again only when something was read."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts.catalogue import (
    COMPATIBILITY_DIAGNOSES,
    COMPATIBILITY_DIAGNOSIS_SECONDS,
    COST_VARIANCE,
    DRILL_DETECTION_SECONDS,
    DRILL_INCIDENTS,
    FAILED_UPDATES,
    FIRST_INSTALL_GRANTS,
    GATE_CRITICAL_SCENARIOS,
    INSTALL_FAILURES,
    PARTIAL_INSTALLS,
    PLUGINS_INSTALLED,
    REGISTRY_HOTFIXES,
    REGISTRY_RELEASES,
    MetricSpec,
    MetricType,
)
from contracts.errors import PluginopsError
from contracts.layout import Layout
from runtime.kpi import records
from runtime.kpi.counters import KpiCounts, counts
from runtime.kpi.facts import Facts
from runtime.registry.index import Registry

RegistryOf = Callable[[], Registry | None]

CHECK_EVERY_S = 60.0


def _family(spec: MetricSpec) -> CounterMetricFamily | GaugeMetricFamily:
    if spec.type is MetricType.COUNTER:
        return CounterMetricFamily(spec.name.removesuffix("_total"), spec.help,
                                   labels=list(spec.labels))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))


def families(found: KpiCounts) -> list[Metric]:
    out: list[Metric] = []
    failures = _family(INSTALL_FAILURES)
    for (operation, cause), n in sorted(found.install_failures.items()):
        failures.add_metric([operation, cause], n)
    out.append(failures)
    for spec, value in ((COMPATIBILITY_DIAGNOSES, float(found.diagnoses)),
                        (COMPATIBILITY_DIAGNOSIS_SECONDS, found.diagnosis_seconds),
                        (PARTIAL_INSTALLS, float(found.partial)),
                        (REGISTRY_RELEASES, float(found.releases)),
                        (REGISTRY_HOTFIXES, float(found.hotfixes)),
                        (DRILL_DETECTION_SECONDS, found.drill_seconds)):
        family = _family(spec)
        family.add_metric([], value)
        out.append(family)
    for spec, counted in ((FAILED_UPDATES, found.failed_updates),
                          (FIRST_INSTALL_GRANTS, found.first_install_grants),
                          (PLUGINS_INSTALLED, found.installed),
                          (GATE_CRITICAL_SCENARIOS, found.gate_scenarios),
                          (DRILL_INCIDENTS, found.drill_incidents)):
        family = _family(spec)
        for label, n in sorted(counted.items()):
            family.add_metric([label], n)
        out.append(family)
    variance = _family(COST_VARIANCE)
    if found.cost_variance is not None:  # no plugin with two days of executions: no sample
        variance.add_metric([], found.cost_variance)
    out.append(variance)
    return out


class KpiMetrics(Collector):
    def __init__(self, home: Path, registry_of: RegistryOf | None = None) -> None:
        self.home = home
        self.registry_of = registry_of  # the registry whose releases count (read once a minute)
        self.layout = Layout(home)
        self._lock = threading.Lock()
        self._signature: tuple[tuple[int, int], ...] | None = None
        self._facts = Facts()
        self._checked_at = float("-inf")
        self._counts: KpiCounts | None = None  # of the facts as last read

    def _sources(self) -> list[Path]:
        databases = (self.layout.journal, self.layout.approvals_db, self.layout.bakes_db,
                     self.layout.drills_db)
        return [*databases, *(db.with_name(db.name + "-wal") for db in databases),
                self.layout.gates]

    def _stat(self) -> tuple[tuple[int, int], ...]:
        out = []
        for path in self._sources():
            try:
                info = path.stat()
                out.append((info.st_mtime_ns, info.st_size))
            except FileNotFoundError:
                out.append((0, -1))
        return tuple(out)

    def _refresh(self) -> bool:
        """Read what changed (the records when a file did, the checks once a minute); whether
        anything was read."""
        signature = self._stat()
        facts = self._facts
        read = False
        if signature != self._signature:
            read = True
            facts.attempts = records.attempts(self.layout)
            facts.bake_rollbacks = records.bake_rollbacks(self.layout)
            facts.grants = records.grants(self.layout)
            facts.incidents = records.incidents(self.layout)
            facts.gate_runs = records.gate_runs(self.home)
            self._signature = signature
        now = time.monotonic()
        if now - self._checked_at >= CHECK_EVERY_S:
            read = True
            facts.installed = records.installed(self.layout)
            facts.orphaned = records.orphaned(self.layout)
            facts.releases = records.releases(self._registry())
            facts.usage = records.usage(self.layout)
            self._checked_at = now
        return read

    def _registry(self) -> Registry | None:
        if self.registry_of is None:
            return None
        try:
            return self.registry_of()
        except PluginopsError:  # unreachable or invalid now: no release figures this minute
            return None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._refresh() or self._counts is None:
                self._counts = counts(self._facts, time.time())
            found = self._counts
        yield from families(found)

    def describe(self) -> Iterable[Metric]:
        return families(KpiCounts())
