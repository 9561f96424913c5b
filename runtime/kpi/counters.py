"""The KPI counters `/metrics` exports, from the same facts and helpers as the scorecard: every
count since the records began (Prometheus takes the increase over a period)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from contracts.catalogue import DRILL_RESULTS, GATE_OUTCOMES, NO_PROFILE, RECOVERIES
from contracts.kpis import BY_NAME, VERSION_MISMATCH_CAUSES, Kpi, Risk, scope_risk
from runtime.kpi.compute import (
    DAY_S,
    FAILED_STATES,
    INSTALLING,
    cost_variance,
    episodes,
    failed_updates,
    first_install_grants,
    releases_and_hotfixes,
)
from runtime.kpi.facts import Facts

DETECTED, UNDETECTED = DRILL_RESULTS
PASSED, FAILED = GATE_OUTCOMES


@dataclass
class KpiCounts:
    install_failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    diagnoses: int = 0
    diagnosis_seconds: float = 0.0
    failed_updates: Counter[str] = field(default_factory=Counter)
    first_install_grants: Counter[str] = field(default_factory=Counter)
    installed: Counter[str] = field(default_factory=Counter)
    partial: int = 0
    drill_incidents: Counter[str] = field(default_factory=Counter)
    drill_seconds: float = 0.0
    gate_scenarios: Counter[str] = field(default_factory=Counter)
    releases: int = 0
    hotfixes: int = 0
    cost_variance: float | None = None


def counts(facts: Facts, now: float) -> KpiCounts:
    """Every count in the records, with a 0 for each label value the KPI rules read; the cost
    variance over the COST_VARIANCE KPI's period ending `now`."""
    out = KpiCounts()
    for operation in INSTALLING:
        out.install_failures.update({(operation, cause): 0 for cause in VERSION_MISMATCH_CAUSES})
    out.failed_updates.update({who: 0 for who in RECOVERIES})
    out.first_install_grants.update({risk.value: 0 for risk in Risk})
    out.drill_incidents.update({result: 0 for result in DRILL_RESULTS})
    out.gate_scenarios.update({outcome: 0 for outcome in GATE_OUTCOMES})
    for attempt in facts.attempts:
        if attempt.operation in INSTALLING and attempt.state in FAILED_STATES:
            out.install_failures[(attempt.operation, attempt.cause)] += 1
    resolved, _ = episodes(facts)
    out.diagnoses = len(resolved)
    out.diagnosis_seconds = sum(seconds for _, seconds in resolved)
    out.failed_updates.update(who for _, who in failed_updates(facts))
    out.first_install_grants.update(scope_risk(g.scope).value
                                    for g in first_install_grants(facts))
    out.installed.update(i.profile or NO_PROFILE for i in facts.installed)
    out.partial = sum(1 for i in facts.installed if i.problem) + len(facts.orphaned)
    for incident in facts.incidents:
        out.drill_incidents[UNDETECTED if incident.detected_s is None else DETECTED] += 1
        out.drill_seconds += incident.detected_s or 0.0
    for run in facts.gate_runs:
        out.gate_scenarios[PASSED] += run.critical_passed
        out.gate_scenarios[FAILED] += run.critical_run - run.critical_passed
    published = releases_and_hotfixes(facts)
    out.releases = len(published)
    out.hotfixes = sum(1 for _, hotfix in published if hotfix)
    period = BY_NAME[Kpi.COST_VARIANCE].period_days * DAY_S
    out.cost_variance, _ = cost_variance(facts, now - period, now)
    return out
