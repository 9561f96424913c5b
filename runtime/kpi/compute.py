"""The KPIs' arithmetic: facts in, a scorecard out, nothing read or written.

Each KPI is measured over its period, the `period_days` ending at `at`, and over the period
before it; `change` is `current / previous - 1` when both exist and `previous` is not zero. A
`reduce_by` target is met when the change is at most minus the target; one with no previous
value (or a previous of zero) has no baseline yet and is not judged.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from contracts.catalogue import RECOVERIES
from contracts.kpis import (
    COMPATIBILITY_CAUSES,
    HOTFIX_DAYS,
    KPIS,
    VERSION_MISMATCH_CAUSES,
    Goal,
    Kpi,
    KpiSpec,
    Risk,
    scope_risk,
)
from contracts.outcomes import TransactionState
from runtime.kpi.facts import REFUSED, Attempt, Facts, Grant

DAY_S = 86400.0
MET, MISSED, NO_DATA, NO_BASELINE = "met", "missed", "no_data", "no_baseline"
INSTALLING = ("install", "update")
FAILED_STATES = (TransactionState.ROLLED_BACK, TransactionState.FAILED, REFUSED)


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str
    end: str


class KpiValue(BaseModel):
    """One KPI's figures: the period's value, the previous period's, the change and whether the
    target is met (`status`), with the counts behind the value (`detail`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    area: str
    title: str
    unit: str
    goal: str
    target: float
    target_text: str
    period_days: int
    period: Period
    previous_period: Period
    current: float | None
    previous: float | None
    change: float | None
    status: str
    detail: dict[str, float | int | str | None]
    definition: str
    source: str


Measure = Callable[[Facts, float, float], tuple[float | None, dict[str, float | int | str | None]]]


def _in(at: float, start: float, end: float) -> bool:
    return start <= at < end


def version_mismatch(facts: Facts, start: float, end: float
                     ) -> tuple[float | None, dict[str, float | int | str | None]]:
    found = [a for a in facts.attempts if a.operation in INSTALLING and a.state in FAILED_STATES
             and a.cause in VERSION_MISMATCH_CAUSES and _in(a.at, start, end)]
    by_cause: dict[str, float | int | str | None] = {}
    for attempt in found:
        by_cause[attempt.cause] = int(by_cause.get(attempt.cause) or 0) + 1
    return float(len(found)), by_cause


def episodes(facts: Facts) -> tuple[list[tuple[float, float]], list[float]]:
    """Compatibility failures of one plugin in a row, each from its first failure to the next
    committed install or update of that plugin: (resolved at, seconds) of those resolved, and
    the start of those still open."""
    resolved: list[tuple[float, float]] = []
    still_open: list[float] = []
    by_plugin: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in facts.attempts:
        if attempt.operation in INSTALLING:
            by_plugin[attempt.plugin].append(attempt)
    for attempts in by_plugin.values():
        first_failure: float | None = None
        for attempt in sorted(attempts, key=lambda a: a.at):
            if attempt.state in FAILED_STATES and attempt.cause in COMPATIBILITY_CAUSES:
                first_failure = attempt.at if first_failure is None else first_failure
            elif attempt.state == TransactionState.COMMITTED and first_failure is not None:
                resolved.append((attempt.at, attempt.at - first_failure))
                first_failure = None
        if first_failure is not None:
            still_open.append(first_failure)
    return resolved, still_open


def diagnosis(facts: Facts, start: float, end: float
              ) -> tuple[float | None, dict[str, float | int | str | None]]:
    """Episodes resolved in the period; those begun in it and not resolved by its end are
    counted as unresolved."""
    resolved, still_open = episodes(facts)
    durations = [seconds for at, seconds in resolved if _in(at, start, end)]
    unresolved = sum(1 for at in still_open if _in(at, start, end))
    unresolved += sum(1 for at, seconds in resolved if at >= end and _in(at - seconds, start, end))
    value = statistics.fmean(durations) if durations else None
    return value, {"resolved": len(durations), "unresolved": unresolved}


def stranded(facts: Facts, start: float, end: float, now: float
             ) -> tuple[float | None, dict[str, float | int | str | None]]:
    failed = [a for a in facts.attempts
              if a.state == TransactionState.FAILED and _in(a.at, start, end)]
    current = start <= now <= end
    inconsistent = [i.plugin for i in facts.installed if i.problem] if current else []
    orphaned = list(facts.orphaned) if current else []
    detail: dict[str, float | int | str | None] = {
        "failed_transactions": len(failed), "inconsistent_plugins": len(inconsistent),
        "orphaned_transactions": len(orphaned)}
    if inconsistent:
        detail["inconsistent"] = ", ".join(sorted(inconsistent)[:10])
    return float(len(failed) + len(inconsistent) + len(orphaned)), detail


BY_TRANSACTION, BY_BAKE, BY_OPERATOR = RECOVERIES
AUTOMATIC = (BY_TRANSACTION, BY_BAKE)


def failed_updates(facts: Facts) -> list[tuple[float, str]]:
    """(when, who put the previous version back) for every failed update: the transaction
    itself (its rollback, or recovery after a crash), its bake, or nobody yet (an operator must:
    the transaction could not be undone)."""
    out = [(a.at, BY_TRANSACTION if a.state == TransactionState.ROLLED_BACK else BY_OPERATOR)
           for a in facts.attempts if a.operation == "update"
           and a.state in (TransactionState.ROLLED_BACK, TransactionState.FAILED)]
    return out + [(b.at, BY_BAKE) for b in facts.bake_rollbacks]


def recovered(facts: Facts, start: float, end: float
              ) -> tuple[float | None, dict[str, float | int | str | None]]:
    inside = [who for at, who in failed_updates(facts) if _in(at, start, end)]
    automatic = sum(1 for who in inside if who in AUTOMATIC)
    value = automatic / len(inside) if inside else None
    return value, {"rolled_back_by_transaction": inside.count(BY_TRANSACTION),
                   "rolled_back_by_bake": inside.count(BY_BAKE),
                   "left_for_an_operator": inside.count(BY_OPERATOR)}


def mttd(facts: Facts, start: float, end: float
         ) -> tuple[float | None, dict[str, float | int | str | None]]:
    inside = [i for i in facts.incidents if _in(i.at, start, end)]
    detected = [(i.scenario, i.detected_s) for i in inside if i.detected_s is not None]
    detail: dict[str, float | int | str | None] = {"incidents": len(inside),
                                                   "undetected": len(inside) - len(detected)}
    by_scenario: dict[str, list[float]] = defaultdict(list)
    for scenario, seconds in detected:
        by_scenario[scenario].append(seconds)
    for scenario, values in sorted(by_scenario.items()):
        detail[f"mttd_s:{scenario}"] = round(statistics.fmean(values), 3)
    return (statistics.fmean(s for _, s in detected) if detected else None), detail


def cost_variance(facts: Facts, start: float, end: float
                  ) -> tuple[float | None, dict[str, float | int | str | None]]:
    unit_costs: dict[str, list[float]] = defaultdict(list)
    for usage in facts.usage:
        if usage.executions > 0 and _in(usage.at, start, end):
            unit_costs[usage.plugin].append(usage.cost_usd / usage.executions)
    ratios = []
    for values in unit_costs.values():
        mean = statistics.fmean(values) if values else 0.0
        if len(values) >= 2 and mean > 0:
            ratios.append(statistics.pvariance(values) / mean ** 2)
    return (statistics.fmean(ratios) if ratios else None), {"plugins": len(ratios)}


def coverage(facts: Facts, start: float, end: float, now: float
             ) -> tuple[float | None, dict[str, float | int | str | None]]:
    if not start <= now <= end or not facts.installed:
        return None, {"installed": len(facts.installed) if start <= now <= end else None}
    covered = [i for i in facts.installed if i.profile is not None]
    detail: dict[str, float | int | str | None] = {"installed": len(facts.installed),
                                                   "with_profile": len(covered)}
    missing = sorted(i.plugin for i in facts.installed if i.profile is None)
    if missing:
        detail["without_profile"] = ", ".join(missing[:10])
    return len(covered) / len(facts.installed), detail


def first_install_grants(facts: Facts) -> list[Grant]:
    """Approved scopes decided before the plugin's first install committed (or while it has
    none): what a plugin was trusted with to be installed at all."""
    first_install: dict[str, float] = {}
    for attempt in facts.attempts:
        if attempt.operation == "install" and attempt.state == TransactionState.COMMITTED:
            first_install[attempt.plugin] = min(first_install.get(attempt.plugin, attempt.at),
                                                attempt.at)
    return [g for g in facts.grants if g.at <= first_install.get(g.plugin, g.at)]


def high_risk_grants(facts: Facts, start: float, end: float
                     ) -> tuple[float | None, dict[str, float | int | str | None]]:
    counts = {risk: 0 for risk in Risk}
    for grant in first_install_grants(facts):
        if _in(grant.at, start, end):
            counts[scope_risk(grant.scope)] += 1
    return float(counts[Risk.HIGH]), {f"{risk.value}_risk": n for risk, n in counts.items()}


def releases_and_hotfixes(facts: Facts) -> list[tuple[float, bool]]:
    """(published at, whether a hotfix) of every release, prereleases aside: a hotfix is a
    patch release within HOTFIX_DAYS of the same plugin's previous release."""
    by_plugin = defaultdict(list)
    for release in facts.releases:
        if not release.prerelease:
            by_plugin[release.plugin].append(release)
    out = []
    for releases in by_plugin.values():
        ordered = sorted(releases, key=lambda r: (r.at, r.version))
        for before, release in zip([None, *ordered], ordered, strict=False):
            hotfix = before is not None and release.version[:2] == before.version[:2] and \
                release.version[2] > before.version[2] and \
                release.at - before.at <= HOTFIX_DAYS * DAY_S
            out.append((release.at, hotfix))
    return out


def hotfixes(facts: Facts, start: float, end: float
             ) -> tuple[float | None, dict[str, float | int | str | None]]:
    inside = [hotfix for at, hotfix in releases_and_hotfixes(facts) if _in(at, start, end)]
    return float(sum(inside)), {"releases": len(inside)}


def pass_rate(facts: Facts, start: float, end: float
              ) -> tuple[float | None, dict[str, float | int | str | None]]:
    runs = [g for g in facts.gate_runs if _in(g.at, start, end)]
    run = sum(g.critical_run for g in runs)
    passed = sum(g.critical_passed for g in runs)
    return (passed / run if run else None), {"gates": len(runs), "critical_run": run,
                                             "critical_passed": passed}


def _measures(now: float) -> dict[str, Measure]:
    return {
        Kpi.VERSION_MISMATCH_FAILURES: version_mismatch,
        Kpi.COMPAT_DIAGNOSIS: diagnosis,
        Kpi.STRANDED: lambda f, s, e: stranded(f, s, e, now),
        Kpi.AUTO_RECOVERED: recovered,
        Kpi.MTTD: mttd,
        Kpi.COST_VARIANCE: cost_variance,
        Kpi.PROFILE_COVERAGE: lambda f, s, e: coverage(f, s, e, now),
        Kpi.HIGH_RISK_GRANTS: high_risk_grants,
        Kpi.HOTFIXES: hotfixes,
        Kpi.CRITICAL_PASS_RATE: pass_rate,
    }


def judge(spec: KpiSpec, current: float | None, previous: float | None) -> str:
    if current is None:
        return NO_DATA
    if spec.goal is Goal.AT_MOST:
        return MET if current <= spec.target else MISSED
    if spec.goal is Goal.AT_LEAST:
        return MET if current >= spec.target else MISSED
    goal = goal_of(spec, previous)
    if goal is None:
        return NO_BASELINE
    return MET if current <= goal else MISSED


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scorecard(facts: Facts, at: float, specs: Iterable[KpiSpec] = KPIS) -> list[KpiValue]:
    """Every KPI over its period ending at `at` and the period before."""
    measures = _measures(at)
    out = []
    for spec in specs:
        span = spec.period_days * DAY_S
        current, detail = measures[spec.name](facts, at - span, at)
        previous, _ = measures[spec.name](facts, at - 2 * span, at - span)
        change = current / previous - 1 if current is not None and previous else None
        out.append(KpiValue(
            name=spec.name, area=spec.area, title=spec.title, unit=spec.unit, goal=spec.goal,
            target=spec.target, target_text=spec.target_text, period_days=spec.period_days,
            period=Period(start=iso(at - span), end=iso(at)),
            previous_period=Period(start=iso(at - 2 * span), end=iso(at - span)),
            current=current, previous=previous, change=change,
            status=judge(spec, current, previous), detail=detail,
            definition=spec.definition, source=spec.source))
    return out


class KpiPoint(BaseModel):
    """A KPI's value for the period ending at `at`, and what its target asked of that period
    (`goal`: the absolute target, or the previous period's value less the reduction; None
    when there is no baseline)."""

    model_config = ConfigDict(extra="forbid")

    at: str
    value: float | None
    goal: float | None


def goal_of(spec: KpiSpec, previous: float | None) -> float | None:
    if spec.goal is not Goal.REDUCE_BY:
        return spec.target
    return previous * (1 - spec.target) if previous else None


def history(facts: Facts, at: float, weeks: int = 12, specs: Iterable[KpiSpec] = KPIS
            ) -> dict[str, list[KpiPoint]]:
    """Each KPI computed at weekly steps back from `at`, oldest first: how it has moved against
    its target."""
    by_name = {spec.name: spec for spec in specs}
    out: dict[str, list[KpiPoint]] = {name: [] for name in by_name}
    for k in range(weeks - 1, -1, -1):
        moment = at - k * 7 * DAY_S
        for value in scorecard(facts, moment, by_name.values()):
            out[value.name].append(KpiPoint(at=iso(moment), value=value.current,
                                            goal=goal_of(by_name[value.name], value.previous)))
    return out
