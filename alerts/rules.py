"""SLO specs in, Prometheus rule groups out (pure; `render` stamps and serialises them).

Per SLO kind one group holds, in evaluation order: the 5m bad and total event rates per plugin,
the error ratio at every window, each plugin's objective (with its tier switches as labels), the
burn rates, and the burn-rate alerts that read them (an alert must sit in the group of the
recording rules it reads, or it sees them one evaluation late).

- Zero traffic gives an error ratio of 0, never NaN: the denominator is clamped and a missing bad
  series counts as 0.
- Windows up to 6h are rates of the raw counters; 1d, 3d and the period are sums of the recorded
  5m rates, so the period ratio is total bad over total events (weighted by traffic, not a mean
  of ratios) and costs two series per plugin.
- Latency thresholds match `le` by a regular expression that accepts both `1` and `1.0`, the
  spellings before and after Prometheus 3's normalisation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alerts import conventions as c
from alerts.kpi_rules import kpi_group
from alerts.spec import Slo
from alerts.windows import ALL_WINDOWS, SHORT_WINDOWS, TIERS, Tier
from contracts.catalogue import (
    COST_ANOMALY_SCORE,
    EVALUATOR_PLUGINS,
    INSTALL_TRANSACTIONS,
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    POLICY_DENIALS,
    ROLLBACKS,
    SLO_BUDGET_REMAINING,
    SLO_BURN_RATE,
)
from contracts.codes import Code
from contracts.errors import PluginopsError

BY = f"{c.PLUGIN}, {c.PLUGIN_TYPE}"
EPSILON = "1e-12"
REGRESSION_RATIO = 1.5
REGRESSION_MIN_RATE = 0.05  # executions per second in both windows (3 a minute)
DENIAL_BURST = 10  # denials in 5 minutes
COST_Z = 4  # the evaluator's cost detector flags at this score (evaluator/cost_anomaly.py)


@dataclass(frozen=True)
class Settings:
    """Knobs of the generated rules that are not SLO specs. The defaults are production's; the
    local stack's fast profile (`stack.stack.FAST_RULES`) shortens the waits."""

    regression_for: str = "10m"
    telemetry_for: str = "1m"
    evaluator_stale_for: str = "5m"
    cost_score_for: str = "5m"
    cost_fallback_for: str = "15m"


def le_matcher(threshold: float) -> str:
    """A regex for `le` in a PromQL string literal (its backslashes doubled)."""
    spellings = {repr(threshold), f"{threshold:g}", f"{threshold:.1f}"}
    return "|".join(re.escape(s).replace("\\", "\\\\") for s in sorted(spellings))


def _selector(slo: Slo, overridden: set[str]) -> str:
    kind, _, name = slo.scope.partition(":")
    if kind == "plugin":
        return f'{c.PLUGIN}="{name}"'
    parts = [f'{c.PLUGIN_TYPE}="{name}"']
    if overridden:
        parts.append(f'{c.PLUGIN}!~"{"|".join(sorted(overridden))}"')
    return ", ".join(parts)


def _scopes(slos: list[Slo]) -> list[tuple[Slo, str]]:
    """Each SLO with the selector of the plugins it governs (overrides win over defaults)."""
    overridden = {s.scope.split(":", 1)[1] for s in slos if s.scope.startswith("plugin:")}
    return [(s, _selector(s, overridden)) for s in slos]


def _union(parts: Iterable[str]) -> str:
    items = [f"({p})" for p in parts]
    return items[0] if len(items) == 1 else "\n  or\n".join(items)


def _bad_and_total(kind: str, scoped: list[tuple[Slo, str]], window: str) -> tuple[str, str]:
    executions = PLUGIN_EXECUTIONS.name
    if kind == c.AVAILABILITY:
        bad = _union(f'sum by ({BY}) (rate({executions}{{outcome!="success", {s}}}[{window}]))'
                     for _, s in scoped)
        total = _union(f"sum by ({BY}) (rate({executions}{{{s}}}[{window}]))"
                       for _, s in scoped)
        return bad, total
    hist = PLUGIN_EXECUTION_DURATION.name
    bad = _union(
        f"sum by ({BY}) (rate({hist}_count{{{s}}}[{window}]))\n    - ignoring(le)\n    "
        f'sum by ({BY}) (rate({hist}_bucket{{le=~"{le_matcher(slo.threshold or 0)}", {s}}}'
        f"[{window}]))"
        for slo, s in scoped)
    total = _union(f"sum by ({BY}) (rate({hist}_count{{{s}}}[{window}]))" for _, s in scoped)
    return bad, total


def _ratio(bad: str, total: str) -> str:
    return (f"(\n  ({bad})\n  or\n  ({total}) * 0\n)\n/\nclamp_min(\n  {total},\n  {EPSILON}\n)")


def _record(name: str, expr: str, slo_kind: str, **labels: str) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": {c.SLO: slo_kind, **labels}}


def _objectives(kind: str, scoped: list[tuple[Slo, str]]) -> dict[str, Any]:
    parts = [
        f'label_replace(label_replace(max by ({BY}) ({c.TOTAL_RATE}{{{c.SLO}="{kind}", {sel}}})'
        f' * 0 + {slo.objective}, "page", "{str(slo.page).lower()}", "", ""), "ticket", '
        f'"{str(slo.ticket).lower()}", "", "")'
        for slo, sel in scoped]
    return _record(c.OBJECTIVE, _union(parts), kind)


def _burn_alert(kind: str, tier_list: list[Tier], severity: str, period_s: float) -> dict[str, Any]:
    slo_sel = f'{c.SLO}="{kind}"'
    conditions = [
        f"({c.burn_rate(t.long)}{{{slo_sel}}} > {t.factor(period_s):g}\n   and\n   "
        f"{c.burn_rate(t.short)}{{{slo_sel}}} > {t.factor(period_s):g})"
        for t in tier_list]
    body = "\n  or\n  ".join(conditions)
    expr = (f"(\n  {body}\n)\nand on({BY}, {c.SLO})\n{c.OBJECTIVE}{{{slo_sel}, "
            f'{severity}="true"}}')
    alert = c.BURN_ALERT_FOR_SLO[kind]
    windows = ", ".join(f"{t.long}/{t.short} over {t.factor(period_s):g}x" for t in tier_list)
    return {
        "alert": alert, "expr": expr, "for": "0s",
        "labels": {c.SEVERITY: severity, c.SLO: kind},
        "annotations": {
            "summary": f"{{{{ $labels.plugin }}}} is burning its {kind} error budget "
                       f"({severity})",
            "description": f"{{{{ $labels.plugin }}}} ({{{{ $labels.plugin_type }}}}) burns its "
                           f"{kind} error budget at {{{{ $value | humanize }}}}x the sustainable "
                           f"rate ({windows}).",
            "runbook_url": c.runbook(alert)},
    }


def slo_group(kind: str, slos: list[Slo]) -> dict[str, Any]:
    scoped = _scopes(slos)
    periods = {s.period for s in slos}
    if len(periods) != 1:
        raise PluginopsError(Code.SLO_PERIODS_DIFFER, f"{kind} SLOs use periods "
                             f"{', '.join(sorted(periods))}", where="alerts/slos",
                             next_step=f"give every {kind} SLO the same timeWindow")
    periods.pop()
    period_s = slos[0].period_seconds
    bad5, total5 = _bad_and_total(kind, scoped, "5m")
    rules: list[dict[str, Any]] = [
        _record(c.BAD_RATE, bad5, kind),
        _record(c.TOTAL_RATE, total5, kind),
    ]
    sel = f'{{{c.SLO}="{kind}"}}'
    for window in ALL_WINDOWS:
        if window == "5m":
            expr = _ratio(f"{c.BAD_RATE}{sel}", f"{c.TOTAL_RATE}{sel}")
        elif window in SHORT_WINDOWS:
            expr = _ratio(*_bad_and_total(kind, scoped, window))
        else:
            expr = _ratio(f"sum_over_time({c.BAD_RATE}{sel}[{window}])",
                          f"sum_over_time({c.TOTAL_RATE}{sel}[{window}])")
        rules.append(_record(c.error_ratio(window), expr, kind))
    rules.append(_objectives(kind, scoped))
    for window in ALL_WINDOWS:
        rules.append(_record(
            c.burn_rate(window),
            f"{c.error_ratio(window)}{sel}\n/ on({BY}, {c.SLO}) group_left()\n"
            f"(1 - {c.OBJECTIVE}{sel})", kind))
    for severity in ("page", "ticket"):
        tiers = [t for t in TIERS if t.severity == severity]
        rules.append(_burn_alert(kind, tiers, severity, period_s))
    return {"name": c.group(f"slo-{kind}"), "rules": rules}


def period_group(kinds: dict[str, list[Slo]]) -> dict[str, Any]:
    rules = []
    for kind, slos in kinds.items():
        period = slos[0].period
        sel = f'{{{c.SLO}="{kind}"}}'
        rules.append(_record(c.PERIOD_ERROR_RATIO, _ratio(
            f"sum_over_time({c.BAD_RATE}{sel}[{period}])",
            f"sum_over_time({c.TOTAL_RATE}{sel}[{period}])"), kind, period=period))
        rules.append(_record(
            c.BUDGET_REMAINING,
            f"1 - {c.PERIOD_ERROR_RATIO}{sel}\n/ on({BY}, {c.SLO}) group_left()\n"
            f"(1 - {c.OBJECTIVE}{sel})", kind, period=period))
    return {"name": c.group("slo-period"), "interval": "1m", "rules": rules}


def _quantile(q: float, window: str, offset: str = "") -> str:
    shift = f" offset {offset}" if offset else ""
    return (f"histogram_quantile({q}, sum by ({BY}, le) "
            f"(rate({PLUGIN_EXECUTION_DURATION.name}_bucket[{window}]{shift})))")


def latency_group(settings: Settings) -> dict[str, Any]:
    count = f"{PLUGIN_EXECUTION_DURATION.name}_count"
    rules: list[dict[str, Any]] = [
        {"record": c.LATENCY_P95, "expr": _quantile(0.95, "30m")},
        {"record": c.LATENCY_P99, "expr": _quantile(0.99, "30m")},
    ]
    for q in (0.95, 0.99):
        expr = (f"(\n  {_quantile(q, '30m')}\n  /\n  {_quantile(q, '30m', '1w')}\n) > "
                f"{REGRESSION_RATIO}\nand on({BY})\nsum by ({BY}) (rate({count}[30m])) > "
                f"{REGRESSION_MIN_RATE}\nand on({BY})\nsum by ({BY}) (rate({count}[30m] offset "
                f"1w)) > {REGRESSION_MIN_RATE}")
        rules.append({
            "alert": c.LATENCY_REGRESSION, "expr": expr, "for": settings.regression_for,
            "labels": {c.SEVERITY: c.TICKET, "quantile": f"{q}"},
            "annotations": {
                "summary": f"{{{{ $labels.plugin }}}} p{int(q * 100)} latency regressed "
                           "against last week",
                "description": f"p{int(q * 100)} over the last 30 minutes is "
                               f"{{{{ $value | humanize }}}}x the same window a week ago "
                               f"(threshold {REGRESSION_RATIO}x, with traffic in both).",
                "runbook_url": c.runbook(c.LATENCY_REGRESSION)}})
    return {"name": c.group("latency"), "rules": rules}


def cost_group(settings: Settings) -> dict[str, Any]:
    cost = PLUGIN_EXECUTION_COST.name
    success = f'{PLUGIN_EXECUTIONS.name}{{outcome="success"}}'
    per_success = (f"sum by ({BY}) (rate({cost}[5m]))\n/\nclamp_min(sum by ({BY}) "
                   f"(rate({success}[5m])), {EPSILON})")
    history = f"({per_success})[7d:5m]"
    fallback = (f"(\n  ({per_success}) - avg_over_time({history})\n)\n/ "
                f"stddev_over_time({history}) > {COST_Z}\nand on({BY})\n"
                f"stddev_over_time({history}) > 0\nunless on()\n"
                f"(count({c.COST_ANOMALY_SCORE}) > 0)")
    scored = (f"max by ({BY}) ({c.COST_ANOMALY_SCORE}) > {COST_Z}\nand on({BY})\n"
              f"max by ({BY}) ({c.COST_ANOMALY_MATERIAL}) > 0")
    annotations = {
        "summary": "{{ $labels.plugin }} costs more per successful execution than usual",
        "description": f"Anomaly score {{{{ $value | humanize }}}} (threshold {COST_Z}) for the "
                       "cost per successful execution.",
        "runbook_url": c.runbook(c.COST_ANOMALY)}
    return {"name": c.group("cost"), "rules": [
        {"record": c.COST_PER_SUCCESS, "expr": per_success},
        {"alert": c.COST_ANOMALY, "expr": scored, "for": settings.cost_score_for,
         "labels": {c.SEVERITY: c.TICKET, "source": "evaluator"}, "annotations": annotations},
        {"alert": c.COST_ANOMALY, "expr": fallback, "for": settings.cost_fallback_for,
         "labels": {c.SEVERITY: c.TICKET, "source": "promql-fallback"},
         "annotations": annotations},
    ]}


def born_or_increased(counter: str, window: str) -> str:
    """Events in `window`, counting a series born within it (its first scrape already above
    zero, as a counter whose labels are only known when the first event happens). The born
    series comes first: `or` keeps the left side where both have the same labels, and a new
    series' value is all its events, where `increase` would miss those before its first
    scrape."""
    return f"({counter} unless {counter} offset {window})\n  or\n  increase({counter}[{window}])"


def operations_group(settings: Settings) -> dict[str, Any]:
    return {"name": c.group("operations"), "rules": [
        {"alert": c.INSTALL_ROLLBACKS,
         "expr": f"sum by ({c.PLUGIN}) (\n  {born_or_increased(ROLLBACKS.name, '15m')}\n) > 0",
         "for": "0s", "labels": {c.SEVERITY: c.TICKET},
         "annotations": {
             "summary": "{{ $labels.plugin }}: an install, update or rollback was rolled back",
             "description": "{{ $value | humanize }} rollback(s) in 15 minutes; `pluginops "
                            "history {{ $labels.plugin }}` shows the phase and the reason.",
             "runbook_url": c.runbook(c.INSTALL_ROLLBACKS)}},
        {"alert": c.DENIAL_SPIKE,
         "expr": f"sum by ({c.PLUGIN}, profile) (\n  "
                 f"{born_or_increased(POLICY_DENIALS.name, '5m')}\n) > {DENIAL_BURST}",
         "for": "0s", "labels": {c.SEVERITY: c.TICKET},
         "annotations": {
             "summary": "{{ $labels.plugin }} is being denied by its sandbox repeatedly",
             "description": "{{ $value | humanize }} denials in 5 minutes; the audit log has "
                            "each one (operation, target, rule).",
             "runbook_url": c.runbook(c.DENIAL_SPIKE)}},
        {"alert": c.TELEMETRY_ABSENT,
         "expr": f'up{{job="{c.RUNTIME_JOB}"}} == 0\nor\nabsent(up{{job="{c.RUNTIME_JOB}"}})\n'
                 f"or\nabsent_over_time({INSTALL_TRANSACTIONS.name}[10m]) and "
                 f"absent_over_time({PLUGIN_EXECUTIONS.name}[10m])",
         "for": settings.telemetry_for, "labels": {c.SEVERITY: c.PAGE},
         "annotations": {
             "summary": "Pluginops telemetry is absent or stale",
             "description": "The runtime cannot be scraped, or exports no plugin metrics: "
                            "alerts on plugins are blind until it is back.",
             "runbook_url": c.runbook(c.TELEMETRY_ABSENT)}},
        {"alert": c.EVALUATOR_STALE,
         "expr": f"(time() - max by (instance) ({c.EVALUATOR_LAST_SUCCESS}))\n"
                 f"  > {c.EVALUATOR_STALE_INTERVALS} * max by (instance) "
                 f"({c.EVALUATOR_INTERVAL})\n"
                 f"or\nmax by (instance) ({c.EVALUATOR_INTERVAL})\n"
                 f"  unless on (instance) max by (instance) ({c.EVALUATOR_LAST_SUCCESS})",
         "for": settings.evaluator_stale_for, "labels": {c.SEVERITY: c.PAGE},
         "annotations": {
             "summary": "The SLO evaluator's figures are stale on {{ $labels.instance }}",
             "description": f"No evaluation cycle has succeeded for "
                            f"{c.EVALUATOR_STALE_INTERVALS} intervals: budgets, burn rates "
                            "and cost anomaly scores are old, and the alerts reading them "
                            "are blind.",
             "runbook_url": c.runbook(c.EVALUATOR_STALE)}},
        {"alert": c.WATCHDOG, "expr": "vector(1)", "labels": {c.SEVERITY: c.NONE},
         "annotations": {
             "summary": "Always firing: proves the alerting pipeline end to end",
             "description": "If this stops arriving at the watchdog receiver, paging is broken.",
             "runbook_url": c.runbook(c.WATCHDOG)}},
    ]}


def evaluator_fleet_group() -> dict[str, Any]:
    """The fleet from the evaluator's per-plugin gauges, whichever replica exported them: with
    `--shard K/N` each replica exports its own plugins, and these rules are the fleet roll-up
    of the N (a plugin exported twice, by replicas with overlapping shards, counts once)."""
    budget = SLO_BUDGET_REMAINING.name
    worst = f"min by ({c.PLUGIN}, {c.PLUGIN_TYPE}) ({budget})"
    score = f"max by ({c.PLUGIN}, {c.PLUGIN_TYPE}) ({COST_ANOMALY_SCORE.name})"
    return {"name": c.group("evaluator-fleet"), "rules": [
        {"record": c.FLEET_PLUGINS_EVALUATED, "expr": f"sum({EVALUATOR_PLUGINS.name})"},
        {"record": c.FLEET_PLUGINS_COMPLIANT, "expr": f"count({worst} >= 0) or vector(0)"},
        {"record": c.FLEET_PLUGINS_BREACHED, "expr": f"count({worst} < 0) or vector(0)"},
        {"record": c.FLEET_BUDGET_REMAINING, "expr": f"min by ({c.SLO}) ({budget})"},
        {"record": c.FLEET_BURN_RATE,
         "expr": f"max by ({c.SLO}, {c.WINDOW}) ({SLO_BURN_RATE.name})"},
        {"record": c.FLEET_COST_ANOMALIES, "expr": f"count({score} > {COST_Z}) or vector(0)"},
    ]}


def generate(slos: list[Slo], settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings()
    kinds: dict[str, list[Slo]] = {}
    for slo in slos:
        kinds.setdefault(slo.kind, []).append(slo)
    groups = [slo_group(kind, kinds[kind]) for kind in c.SLO_KINDS
              if kind in kinds]
    groups += [period_group(kinds), latency_group(settings), cost_group(settings),
               operations_group(settings), evaluator_fleet_group(), kpi_group()]
    return {"groups": groups}
