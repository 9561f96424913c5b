"""Every PromQL expression the dashboards run, built from the catalogue and the rule conventions
(no metric or rule name is spelled here). Grafana substitutes `$plugin`, `$__rate_interval` and
`$__range`; the panel-query test substitutes them the same way."""

from __future__ import annotations

from dataclasses import dataclass

from alerts import conventions as c
from contracts.catalogue import (
    COST_ANOMALY_SCORE,
    INSTALL_IN_PROGRESS,
    INSTALL_PHASE_DURATION,
    INSTALL_TRANSACTIONS,
    LATENCY_REGRESSION_RATIO,
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    POLICY_DENIALS,
    PREFLIGHT_FINDINGS,
    ROLLBACKS,
    SLO_BUDGET_REMAINING,
    Dashboards,
)
from contracts.kpis import BY_NAME, Goal

PLUGIN = f'{c.PLUGIN}="${Dashboards.PLUGIN_VARIABLE}"'
# Raw series carry the scraper's `host`; recorded series are the fleet's and do not.
ON_HOSTS = f'{PLUGIN}, {c.HOST}=~"${Dashboards.HOST_VARIABLE}"'
RATE = "$__rate_interval"
RANGE = "$__range"
TOP = 10


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False  # a table or stat of the latest value
    exemplar: bool = False
    # False where an empty answer is a healthy state (nothing firing, nothing in flight).
    expects_data: bool = True


def _executions(selector: str = "") -> str:
    return f"{PLUGIN_EXECUTIONS.name}{{{selector}}}" if selector else PLUGIN_EXECUTIONS.name


def availability(window: str, offset: str = "") -> str:
    shift = f" offset {offset}" if offset else ""
    success = _executions(f'{ON_HOSTS}, outcome="success"')
    return (f"sum(rate({success}[{window}]{shift}))\n/\n"
            f"sum(rate({_executions(ON_HOSTS)}[{window}]{shift}))")


def latency(q: float, window: str, offset: str = "") -> str:
    shift = f" offset {offset}" if offset else ""
    return (f"histogram_quantile({q}, sum by (le) "
            f"(rate({PLUGIN_EXECUTION_DURATION.name}_bucket{{{ON_HOSTS}}}[{window}]{shift})))")


def cost_per_success(window: str, offset: str = "") -> str:
    shift = f" offset {offset}" if offset else ""
    success = _executions(f'{ON_HOSTS}, outcome="success"')
    return (f"sum(rate({PLUGIN_EXECUTION_COST.name}{{{ON_HOSTS}}}[{window}]{shift}))\n/\n"
            f"clamp_min(sum(rate({success}[{window}]{shift})), 1e-12)")


# Fleet overview -----------------------------------------------------------------------------

WITHIN_SLO = Query(f'count({c.BUDGET_REMAINING}{{{c.SLO}="{c.AVAILABILITY}"}} >= 0) or vector(0)',
                   "within budget", instant=True)
OUT_OF_BUDGET = Query(f"count({c.BUDGET_REMAINING} < 0) or vector(0)", "out of budget",
                      instant=True)
SUCCESSES = _executions('outcome="success"')
FLEET_AVAILABILITY = Query(f"sum(rate({SUCCESSES}[{RATE}])) / sum(rate({PLUGIN_EXECUTIONS.name}"
                           f"[{RATE}]))", "availability")
BUDGET_TABLE = Query(f"sort({c.BUDGET_REMAINING})", "{{plugin}} {{slo}}", instant=True)
BURN_1H = Query(f"topk({TOP}, {c.burn_rate('1h')})", "{{plugin}} {{slo}}")
TOP_FAILING = Query(f'topk({TOP}, {c.error_ratio("1h")}{{{c.SLO}="{c.AVAILABILITY}"}} > 0)',
                    "{{plugin}}", instant=True, expects_data=False)
TOP_COSTLY = Query(f"topk({TOP}, sum by ({c.PLUGIN}) "
                   f"(increase({PLUGIN_EXECUTION_COST.name}[{RANGE}])) > 0)", "{{plugin}}",
                   instant=True)
FLEET_P95 = Query(f"topk({TOP}, {c.LATENCY_P95})", "{{plugin}} p95")
FLEET_P99 = Query(f"topk({TOP}, {c.LATENCY_P99})", "{{plugin}} p99")
FLEET_COST_PER_SUCCESS = Query(f"topk({TOP}, {c.COST_PER_SUCCESS} > 0)", "{{plugin}}")
ALERTS_FIRING = Query('sum by (alertname, severity) (ALERTS{alertstate="firing"})',
                      "{{alertname}} ({{severity}})", instant=True)
INSTALL_OUTCOMES = Query(f"sum by ({c.PLUGIN}, operation, outcome) "
                         f"(increase({INSTALL_TRANSACTIONS.name}[{RANGE}])) > 0",
                         "{{plugin}} {{operation}} {{outcome}}", instant=True)
ROLLBACKS_BY_PLUGIN = Query(f"sum by ({c.PLUGIN}) (increase({ROLLBACKS.name}[{RANGE}])) > 0",
                            "{{plugin}}", instant=True, expects_data=False)
DENIALS_BY_PLUGIN = Query(f"sum by ({c.PLUGIN}, operation) "
                          f"(increase({POLICY_DENIALS.name}[{RATE}]))", "{{plugin}} {{operation}}")
COST_SCORES = Query(f"topk({TOP}, {COST_ANOMALY_SCORE.name})", "{{plugin}}")

# Plugin detail ------------------------------------------------------------------------------

# per host: where a failing or slow host stands out from the fleet
_SUCCESS_ON_HOSTS = _executions(f'{ON_HOSTS}, outcome="success"')
HOST_AVAILABILITY = Query(
    f"sum by ({c.HOST}) (rate({_SUCCESS_ON_HOSTS}[1h]))\n/\n"
    f"sum by ({c.HOST}) (rate({_executions(ON_HOSTS)}[1h]))", f"{{{{{c.HOST}}}}}")
HOST_EXECUTIONS = Query(f"sum by ({c.HOST}, version) (rate({_executions(ON_HOSTS)}[{RATE}]))",
                        f"{{{{{c.HOST}}}}} {{{{version}}}}")
BUDGET_BURN_DOWN = Query(f"{c.BUDGET_REMAINING}{{{PLUGIN}}}", "{{slo}} (rules)")
BUDGET_EVALUATOR = Query(f"{SLO_BUDGET_REMAINING.name}{{{PLUGIN}}}", "{{slo}} (evaluator)")
BURN_RATES = Query(" or ".join(
    f'label_replace({c.burn_rate(w)}{{{PLUGIN}}}, "{c.WINDOW}", "{w}", "", "")'
    for w in ("5m", "1h", "6h", "1d")), f"{{{{slo}}}} {{{{{c.WINDOW}}}}}")
REGRESSION = Query(f"{LATENCY_REGRESSION_RATIO.name}{{{PLUGIN}}}", "{{percentile}}")
ROLLBACK_ANNOTATION = f"increase({ROLLBACKS.name}{{{PLUGIN}}}[2m]) > 0"

# Installs and security ----------------------------------------------------------------------

PHASE_P95 = Query(f"histogram_quantile(0.95, sum by (phase, le) "
                  f"(rate({INSTALL_PHASE_DURATION.name}_bucket[{RATE}])))", "{{phase}} p95")
TRANSACTIONS = Query(f"sum by (operation, outcome) (increase({INSTALL_TRANSACTIONS.name}[{RATE}]))",
                     "{{operation}} {{outcome}}")
ROLLBACK_REASONS = Query(f"sum by (phase, reason) (increase({ROLLBACKS.name}[{RANGE}])) > 0",
                         "{{phase}} {{reason}}", instant=True, expects_data=False)
DENIALS_BY_OPERATION = Query(f"sum by (operation, profile) "
                             f"(increase({POLICY_DENIALS.name}[{RATE}]))",
                             "{{operation}} ({{profile}})")
IN_FLIGHT = Query(f"sum by ({c.PLUGIN}) ({INSTALL_IN_PROGRESS.name}) > 0", "{{plugin}}",
                  expects_data=False)
PREFLIGHT = Query(f"sum by (code) (increase({PREFLIGHT_FINDINGS.name}[{RANGE}])) > 0", "{{code}}",
                  instant=True, expects_data=False)

# KPIs ---------------------------------------------------------------------------------------


def kpi_now(name: str) -> Query:
    return Query(c.KPI_RECORDS[name], "this period")


def kpi_previous(name: str) -> Query:
    """The value one period earlier: empty until the store holds two periods."""
    days = BY_NAME[name].period_days
    return Query(f"{c.KPI_RECORDS[name]} offset {days}d", f"previous {days} days",
                 expects_data=False)


def kpi_goal(name: str) -> Query:
    """What the target asks: the absolute target, or the previous period less the reduction."""
    spec = BY_NAME[name]
    if spec.goal is Goal.REDUCE_BY:
        return Query(f"{1 - spec.target:g} * ({c.KPI_RECORDS[name]} offset {spec.period_days}d)",
                     "target", expects_data=False)
    return Query(f"vector({spec.target:g})", "target")
