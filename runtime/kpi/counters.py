"""The KPI counters `/metrics` exports, from the same facts and helpers as the scorecard: every
count since the records began (Prometheus takes the increase over a period)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from contracts.catalogue import DRILL_RESULTS, GATE_OUTCOMES, NO_PROFILE
from contracts.kpis import scope_risk
from runtime.kpi.compute import (
    FAILED_STATES,
    INSTALLING,
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
    drill_incidents: Counter[tuple[str, str]] = field(default_factory=Counter)
    drill_seconds: dict[str, float] = field(default_factory=dict)
    gate_scenarios: Counter[str] = field(default_factory=Counter)
    releases: int = 0
    hotfixes: int = 0


def counts(facts: Facts) -> KpiCounts:
    out = KpiCounts()
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
        detected = incident.detected_s is not None
        out.drill_incidents[(incident.scenario, DETECTED if detected else UNDETECTED)] += 1
        if incident.detected_s is not None:
            out.drill_seconds[incident.scenario] = \
                out.drill_seconds.get(incident.scenario, 0.0) + incident.detected_s
    for run in facts.gate_runs:
        out.gate_scenarios[PASSED] += run.critical_passed
        out.gate_scenarios[FAILED] += run.critical_run - run.critical_passed
    published = releases_and_hotfixes(facts)
    out.releases = len(published)
    out.hotfixes = sum(1 for _, hotfix in published if hotfix)
    return out
