"""The weekly report: one model (`WeeklyReport`, whose JSON Schema is published under
`schemas/`), built from an evaluation run; `evaluator.markdown` renders it, `evaluator.charts`
draws its figures."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from pydantic import Field

from alerts.windows import seconds
from collector import schema as s
from evaluator.results import (
    Anomaly,
    Evaluation,
    Fleet,
    LatencyRegression,
    Ranked,
    Trend,
    _Model,
)
from evaluator.run import Run
from evaluator.series import Samples
from runtime.kpi.compute import KpiPoint, KpiValue

SCHEMA_VERSION = 1
BURN_WINDOWS = ("1h", "6h", "1d", "3d")


class SloCompliance(_Model):
    plugin: str
    plugin_type: str
    slo: str
    objective: float
    period: str
    error_ratio: float | None
    budget_remaining: float | None
    compliant: bool | None


class BudgetBurn(_Model):
    plugin: str
    slo: str
    burn_rates: dict[str, float | None]
    budget_remaining: float | None


class PluginAnomaly(Anomaly):
    plugin: str


class PluginRegression(LatencyRegression):
    plugin: str


class OperationCount(_Model):
    plugin: str
    labels: dict[str, str]
    count: float


class WeeklyReport(_Model):
    schema_version: int = SCHEMA_VERSION
    generated_at: str
    at: str
    window: str
    source: str
    fleet: Fleet
    slo_compliance: list[SloCompliance]
    budget_burn: list[BudgetBurn] = Field(description="by budget remaining, lowest first")
    top_failing: list[Ranked]
    top_costly: list[Ranked]
    fastest_burning: list[Ranked]
    anomalies: list[PluginAnomaly] = Field(description="by impact, largest first")
    latency_regressions: list[PluginRegression]
    installs: list[OperationCount]
    rollbacks: list[OperationCount]
    policy_denials: list[OperationCount]
    week_over_week: dict[str, Trend]
    scorecard: list[KpiValue] = Field(
        default_factory=list, description="the plan's KPIs from the runtime home's records "
        "(`report weekly --home`); empty without one")
    kpi_history: dict[str, list[KpiPoint]] = Field(
        default_factory=dict, description="each KPI at weekly steps, oldest first, with the "
        "goal its target set for each period")
    charts: dict[str, str] = Field(description="chart name -> PNG path relative to the report")


def operation_counts(operations: pd.DataFrame, metric: str, start_ms: int, end_ms: int
                     ) -> list[OperationCount]:
    """Each series' increase over the window (its own resets), summed by plugin and the
    metric's reporting labels (`schema.OPERATION_LABELS`)."""
    rows = operations[operations[s.METRIC] == metric]
    kept = s.OPERATION_LABELS[metric]
    counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for (plugin, labels), group in rows.groupby([s.PLUGIN, s.LABELS], sort=True):
        group = group.sort_values(s.TIMESTAMP)
        samples = Samples(group[s.TIMESTAMP].to_numpy(dtype="int64"),
                          group[s.VALUE].to_numpy(dtype="float64"))
        parsed = s.parse_label_text(str(labels))
        key = (str(plugin), tuple((k, parsed[k]) for k in kept if k in parsed))
        counts[key] = counts.get(key, 0.0) + samples.increase(start_ms, end_ms)
    out = [OperationCount(plugin=plugin, labels=dict(labels), count=count)
           for (plugin, labels), count in counts.items() if count > 0]
    return sorted(out, key=lambda o: (-o.count, o.plugin))


def _at_ms(evaluation: Evaluation) -> int:
    return int(datetime.strptime(evaluation.at, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC).timestamp() * 1000)


def build(run: Run, charts: dict[str, str], generated_at: datetime | None = None,
          scorecard: list[KpiValue] | None = None,
          kpi_history: dict[str, list[KpiPoint]] | None = None) -> WeeklyReport:
    ev = run.evaluation
    at_ms = _at_ms(ev)
    start_ms = at_ms - int(seconds(ev.window) * 1000)
    compliance, burns, anomalies, regressions = [], [], [], []
    for p in ev.plugins:
        for slo in p.slos:
            compliance.append(SloCompliance(
                plugin=p.plugin, plugin_type=p.plugin_type, slo=slo.slo,
                objective=slo.objective, period=slo.period,
                error_ratio=slo.windows[slo.period].error_ratio,
                budget_remaining=slo.budget_remaining, compliant=slo.compliant))
            burns.append(BudgetBurn(
                plugin=p.plugin, slo=slo.slo, budget_remaining=slo.budget_remaining,
                burn_rates={w: slo.windows[w].burn_rate for w in BURN_WINDOWS
                            if w in slo.windows}))
        anomalies += [PluginAnomaly(plugin=p.plugin, **a.model_dump()) for a in p.anomalies]
        regressions += [PluginRegression(plugin=p.plugin, **r.model_dump())
                        for r in p.latency_regressions if r.status == "regression"]
    burns.sort(key=lambda b: (np.inf if b.budget_remaining is None else b.budget_remaining,
                              b.plugin, b.slo))
    anomalies.sort(key=lambda a: (-abs(a.impact_usd or a.impact_executions or 0), a.plugin))
    ops = run.operations
    return WeeklyReport(
        generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        at=ev.at, window=ev.window, source=ev.source, fleet=ev.fleet,
        slo_compliance=compliance, budget_burn=burns, top_failing=ev.fleet.top_failing,
        top_costly=ev.fleet.top_costly, fastest_burning=ev.fleet.fastest_burning,
        anomalies=anomalies, latency_regressions=regressions,
        installs=operation_counts(ops, s.INSTALLS, start_ms, at_ms),
        rollbacks=operation_counts(ops, s.ROLLBACK_EVENTS, start_ms, at_ms),
        policy_denials=operation_counts(ops, s.DENIALS, start_ms, at_ms),
        week_over_week=ev.fleet.trends, scorecard=scorecard or [],
        kpi_history=kpi_history or {}, charts=charts)
