"""The KPIs' recording rules: each KPI the runtime counts (`contracts.catalogue.KPI_METRICS`)
over its period, fleet-wide: counters are summed over hosts after `increase` (each host counts
its own records), the registry's counts are the max over hosts (every host reads the same
index), and the cost variance is the hosts' mean. A ratio with no events has no value (no data),
not zero. Computed by the runtime's scorecard the same way (`runtime.kpi.compute`); the two
agree where Prometheus has scraped the whole period."""

from __future__ import annotations

from typing import Any

from alerts import conventions as c
from contracts.catalogue import (
    COMPATIBILITY_DIAGNOSES,
    COMPATIBILITY_DIAGNOSIS_SECONDS,
    COST_VARIANCE,
    DRILL_DETECTION_SECONDS,
    DRILL_INCIDENTS,
    DRILL_RESULTS,
    FAILED_UPDATES,
    FIRST_INSTALL_GRANTS,
    GATE_CRITICAL_SCENARIOS,
    GATE_OUTCOMES,
    INSTALL_FAILURES,
    INSTALL_TRANSACTIONS,
    NO_PROFILE,
    PARTIAL_INSTALLS,
    PLUGINS_INSTALLED,
    RECOVERIES,
    REGISTRY_HOTFIXES,
    Label,
)
from contracts.kpis import BY_NAME, VERSION_MISMATCH_CAUSES, Kpi, Risk
from contracts.outcomes import TransactionState


def _days(kpi: str) -> str:
    return f"{BY_NAME[kpi].period_days}d"


def _increase(selector: str, kpi: str) -> str:
    return f"sum(increase({selector}[{_days(kpi)}]))"


def _ratio(numerator: str, denominator: str) -> str:
    """A ratio with no value when nothing happened (the denominator is zero or absent)."""
    return f"({numerator} or vector(0))\n/\n({denominator} > 0)"


def kpi_expressions() -> dict[str, str]:
    causes = "|".join(sorted(VERSION_MISMATCH_CAUSES))
    detected, _ = DRILL_RESULTS
    passed, _ = GATE_OUTCOMES
    transaction, bake, _ = RECOVERIES
    failures = (f'{INSTALL_FAILURES.name}{{{Label.OPERATION}=~"install|update", '
                f'{Label.CAUSE}=~"{causes}"}}')
    failed_tx = f'{INSTALL_TRANSACTIONS.name}{{{Label.OUTCOME}="{TransactionState.FAILED}"}}'
    return {
        Kpi.VERSION_MISMATCH_FAILURES:
            f"{_increase(failures, Kpi.VERSION_MISMATCH_FAILURES)} or vector(0)",
        Kpi.COMPAT_DIAGNOSIS: _ratio(
            _increase(COMPATIBILITY_DIAGNOSIS_SECONDS.name, Kpi.COMPAT_DIAGNOSIS),
            _increase(COMPATIBILITY_DIAGNOSES.name, Kpi.COMPAT_DIAGNOSIS)),
        Kpi.STRANDED: f"({_increase(failed_tx, Kpi.STRANDED)} or vector(0))\n+\n"
                      f"(sum({PARTIAL_INSTALLS.name}) or vector(0))",
        Kpi.AUTO_RECOVERED: _ratio(
            _increase(f'{FAILED_UPDATES.name}{{{Label.RECOVERY}=~"{transaction}|{bake}"}}',
                      Kpi.AUTO_RECOVERED),
            _increase(FAILED_UPDATES.name, Kpi.AUTO_RECOVERED)),
        Kpi.MTTD: _ratio(
            _increase(DRILL_DETECTION_SECONDS.name, Kpi.MTTD),
            _increase(f'{DRILL_INCIDENTS.name}{{{Label.RESULT}="{detected}"}}', Kpi.MTTD)),
        Kpi.COST_VARIANCE: f"avg({COST_VARIANCE.name})",
        Kpi.PROFILE_COVERAGE: _ratio(
            f'sum({PLUGINS_INSTALLED.name}{{{Label.PROFILE}!="{NO_PROFILE}"}})',
            f"sum({PLUGINS_INSTALLED.name})"),
        Kpi.HIGH_RISK_GRANTS: _increase(
            f'{FIRST_INSTALL_GRANTS.name}{{{Label.RISK}="{Risk.HIGH}"}}',
            Kpi.HIGH_RISK_GRANTS) + " or vector(0)",
        Kpi.HOTFIXES: f"max(increase({REGISTRY_HOTFIXES.name}[{_days(Kpi.HOTFIXES)}])) "
                      "or vector(0)",
        Kpi.CRITICAL_PASS_RATE: _ratio(
            _increase(f'{GATE_CRITICAL_SCENARIOS.name}{{{Label.OUTCOME}="{passed}"}}',
                      Kpi.CRITICAL_PASS_RATE),
            _increase(GATE_CRITICAL_SCENARIOS.name, Kpi.CRITICAL_PASS_RATE)),
    }


def kpi_group() -> dict[str, Any]:
    expressions = kpi_expressions()
    return {"name": c.group("kpis"), "interval": c.KPI_INTERVAL, "rules": [
        {"record": c.KPI_RECORDS[name], "expr": expressions[name]} for name in c.KPI_RECORDS]}
