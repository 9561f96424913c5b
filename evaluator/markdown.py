"""The weekly report as markdown: what a reviewer reads first comes first."""

from __future__ import annotations

from evaluator.report import OperationCount, WeeklyReport
from evaluator.results import Trend
from runtime.kpi.views import STATUS_TEXT, change_text, detail_text, shown

TREND_LABELS = {
    "executions": "Executions", "availability": "Availability", "error_ratio": "Error ratio",
    "p95": "Latency p95", "p99": "Latency p99", "cost_usd": "Cost",
    "cost_per_success_usd": "Cost per success", "tokens": "Tokens",
}


def _pct(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "$":
        return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _figure(name: str, value: float | None) -> str:
    if name in ("availability", "error_ratio"):
        return _pct(value)
    if name in ("p95", "p99"):
        return _num(value, "s")
    if name in ("cost_usd", "cost_per_success_usd"):
        return _num(value, "$")
    return _num(value)


def _arrow(trend: Trend) -> str:
    marks = {"up": "▲", "down": "▼", "flat": "=", "unknown": "?"}
    verdict = "" if trend.better is None else (" (better)" if trend.better else " (worse)")
    return f"{marks[trend.direction]}{verdict}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["_None._", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _operations(items: list[OperationCount]) -> list[list[str]]:
    return [[i.plugin, ", ".join(f"{k}={v}" for k, v in sorted(i.labels.items())),
             _num(i.count)] for i in items]


def render(report: WeeklyReport) -> str:
    fleet = report.fleet
    now = fleet.current_window
    out = [f"# Pluginops weekly report: {report.window} to {report.at}", "",
           f"Source: `{report.source}`. Generated {report.generated_at}.", "",
           "## Fleet summary", "",
           f"- **{fleet.plugins}** plugins; **{_num(now.executions)}** executions, "
           f"availability **{_pct(now.availability)}**.",
           f"- SLOs: **{fleet.slo_compliant}** plugins compliant, **{fleet.slo_breached}** "
           f"breached, {fleet.slo_without_data} without data.",
           f"- Cost **{_num(now.cost_usd, '$')}**, "
           f"**{_num(now.cost_per_success_usd, '$')}** per successful execution.",
           f"- Latency p95 {_num(now.p95, 's')}, p99 {_num(now.p99, 's')}.",
           f"- {len(report.anomalies)} anomalies, {len(report.latency_regressions)} latency "
           f"regressions, {sum(i.count for i in report.rollbacks):.0f} rollbacks, "
           f"{sum(i.count for i in report.policy_denials):.0f} policy denials.", "",
           "## Week over week", ""]
    out += _table(["Figure", "This window", "Previous", "Change"], [
        [label, _figure(name, report.week_over_week[name].value),
         _figure(name, report.week_over_week[name].previous),
         _arrow(report.week_over_week[name])]
        for name, label in TREND_LABELS.items() if name in report.week_over_week])
    out += [f"![Fleet availability]({report.charts['availability']})", "",
            f"![Fleet traffic]({report.charts['executions']})", "",
            "## SLO compliance", ""]
    breached = [c for c in report.slo_compliance if c.compliant is False]
    out += [f"{len(breached)} of {len(report.slo_compliance)} SLOs out of their objective over "
            "their period.", ""]
    out += _table(["Plugin", "SLO", "Objective", "Error ratio", "Budget left"], [
        [c.plugin, c.slo, _pct(c.objective, 2), _pct(c.error_ratio), _pct(c.budget_remaining, 1)]
        for c in breached])
    out += ["## Budget burn", "", f"![Lowest error budgets]({report.charts['budgets']})", ""]
    out += _table(["Plugin", "SLO", "Budget left", *(f"burn {w}" for w in ("1h", "6h", "1d",
                                                                             "3d"))], [
        [b.plugin, b.slo, _pct(b.budget_remaining, 1),
         *(_num(b.burn_rates.get(w)) for w in ("1h", "6h", "1d", "3d"))]
        for b in report.budget_burn[:15]])
    out += ["## Top failing", ""]
    out += _table(["Plugin", "Type", "Error ratio"],
                  [[r.plugin, r.plugin_type, _pct(r.value)] for r in report.top_failing])
    out += ["## Top costly", "", f"![Top costly plugins]({report.charts['cost']})", ""]
    out += _table(["Plugin", "Type", "Cost"],
                  [[r.plugin, r.plugin_type, _num(r.value, "$")] for r in report.top_costly])
    out += ["## Anomalies", "",
            "Cost anomalies under their materiality floor are listed as minor and never alerted.",
            ""]
    out += _table(["Plugin", "Kind", "Shape", "Start", "End", "Score", "Expected", "Observed",
                   "Impact", "Share", "Alerted"], [
        [a.plugin, a.kind, a.shape or "", a.start, "ongoing" if a.ongoing else a.end,
         f"{a.score:.1f}",
         _num(a.expected, "$" if a.kind == "cost" else ""),
         _num(a.observed, "$" if a.kind == "cost" else ""),
         _num(a.impact_usd, "$") if a.kind == "cost" else
         f"{_num(a.impact_executions)} failed executions",
         _pct(a.share) if a.share is not None else "",
         "yes" if a.material else "no (minor)"]
        for a in report.anomalies])
    out += ["## Latency regressions", ""]
    out += _table(["Plugin", "Quantile", "Now", "Before", "Ratio", "p (permutation)",
                   "p (rank)"], [
        [r.plugin, f"p{int(r.quantile * 100)}", _num(r.current, "s"), _num(r.previous, "s"),
         f"{r.ratio:.2f}x" if r.ratio else "n/a", f"{r.p_value:.4f}" if r.p_value else "n/a",
         f"{r.rank_p_value:.4f}" if r.rank_p_value is not None else "n/a"]
        for r in report.latency_regressions])
    out += ["## Installs and rollbacks", ""]
    out += _table(["Plugin", "Operation", "Count"], _operations(report.installs))
    out += _table(["Plugin", "Rolled back at", "Count"], _operations(report.rollbacks))
    out += ["## Policy denials", ""]
    out += _table(["Plugin", "Denied", "Count"], _operations(report.policy_denials))
    out += _scorecard(report)
    return "\n".join(out).rstrip() + "\n"


def _scorecard(report: WeeklyReport) -> list[str]:
    out = ["## KPI scorecard", ""]
    if not report.scorecard:
        return [*out, "_No runtime home given (`report weekly --home`): no scorecard._", ""]
    out += ["Each KPI over its period ending at the report's end, against the period before it. "
            "Sources and definitions: docs/kpis.md.", ""]
    out += _table(["Area", "KPI", "Now", "Previous", "Change", "Target", "Status", "Detail"], [
        [k.area.replace("_", " "), k.title, shown(k.current, k.unit), shown(k.previous, k.unit),
         change_text(k), k.target_text, STATUS_TEXT[k.status], detail_text(k)]
        for k in report.scorecard])
    for k in report.scorecard:
        chart = report.charts.get(f"kpi:{k.name}")
        if chart:
            out += [f"![{k.title}]({chart})", ""]
    return out
