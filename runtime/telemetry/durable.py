"""The metrics read from the durable record rather than counted in memory: installs, updates,
rollbacks and transactions in progress from the journal, policy denials from the audit log,
bakes from their records, the KPI counters from all of these and the drill and release-gate
records. Every process writes those records, so `/metrics` of any one process
counts every process's work."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from contracts.layout import Layout
from runtime.telemetry.audit_metrics import AuditMetrics
from runtime.telemetry.bake_metrics import BakeMetrics
from runtime.telemetry.journal_metrics import JournalMetrics
from runtime.telemetry.kpi_metrics import KpiMetrics, RegistryOf


def register_durable_metrics(registry: CollectorRegistry, layout: Layout,
                             registry_of: RegistryOf | None = None) -> None:
    """`registry_of`: the plugin registry whose releases the hotfix counters count."""
    registry.register(JournalMetrics(layout.journal))
    registry.register(AuditMetrics(layout.audit_log))
    registry.register(BakeMetrics(layout.bakes_db))
    registry.register(KpiMetrics(layout.home, registry_of))
