"""The one home of every recording-rule, alert, group and label name the rules use (as Sloth keeps
one conventions file). Metric names come from `contracts.catalogue`."""

from __future__ import annotations

from contracts.catalogue import COST_ANOMALY_MATERIAL as _MATERIAL
from contracts.catalogue import COST_ANOMALY_SCORE as _SCORE
from contracts.catalogue import EVALUATOR_INTERVAL as _INTERVAL
from contracts.catalogue import EVALUATOR_LAST_SUCCESS as _LAST_SUCCESS
from contracts.catalogue import Label
from contracts.kpis import KPIS

PREFIX = "pluginops"

# Recording rules (level:metric:operations, the Prometheus naming convention).
BAD_RATE = f"{PREFIX}:slo_bad_events:rate5m"
TOTAL_RATE = f"{PREFIX}:slo_total_events:rate5m"
OBJECTIVE = f"{PREFIX}:slo_objective:ratio"
COST_PER_SUCCESS = f"{PREFIX}:plugin_cost_per_success_usd:ratio_rate5m"
LATENCY_P95 = f"{PREFIX}:plugin_latency_seconds:p95_rate30m"
LATENCY_P99 = f"{PREFIX}:plugin_latency_seconds:p99_rate30m"


def error_ratio(window: str) -> str:
    return f"{PREFIX}:slo_error_ratio:rate{window}"


def burn_rate(window: str) -> str:
    return f"{PREFIX}:slo_burn_rate:rate{window}"


PERIOD_ERROR_RATIO = f"{PREFIX}:slo_error_ratio:period"
BUDGET_REMAINING = f"{PREFIX}:slo_error_budget_remaining:ratio"

# The fleet roll-up of the evaluator's gauges, whichever replica (shard) exported them.
FLEET_PLUGINS_EVALUATED = f"{PREFIX}:evaluator_plugins_evaluated:sum"
FLEET_PLUGINS_COMPLIANT = f"{PREFIX}:fleet_plugins_slo_compliant:count"
FLEET_PLUGINS_BREACHED = f"{PREFIX}:fleet_plugins_slo_breached:count"
FLEET_BUDGET_REMAINING = f"{PREFIX}:fleet_slo_error_budget_remaining:min"
FLEET_BURN_RATE = f"{PREFIX}:fleet_slo_burn_rate:max"
FLEET_COST_ANOMALIES = f"{PREFIX}:fleet_cost_anomalies:count"

# The plan's KPIs, fleet-wide, each over its period (contracts/kpis.py); the dashboards compare
# a record with itself `offset` one period for the change.
KPI_RECORDS = {kpi.name: f"{PREFIX}:kpi_{kpi.name}:{kpi.period_days}d" for kpi in KPIS}
KPI_INTERVAL = "2m"  # within the 5m lookback of an instant query, light on 90-day ranges

# Labels the rules add.
SLO = Label.SLO
SEVERITY = "severity"
WINDOW = Label.WINDOW
PLUGIN = Label.PLUGIN
PLUGIN_TYPE = Label.PLUGIN_TYPE
HOST = "host"  # the runtime host a series came from (a scrape target label)

# Alert names (docs/architecture.md, "SLOs and alerts").
AVAILABILITY_BURN = "PluginAvailabilityBudgetBurn"
LATENCY_BURN = "PluginLatencyBudgetBurn"
LATENCY_REGRESSION = "PluginLatencyRegression"
COST_ANOMALY = "PluginCostAnomaly"
INSTALL_ROLLBACKS = "PluginInstallRollbacks"
DENIAL_SPIKE = "PluginPolicyDenialSpike"
TELEMETRY_ABSENT = "PluginopsTelemetryAbsent"
EVALUATOR_STALE = "PluginopsEvaluatorStale"
WATCHDOG = "Watchdog"
ALERTS = (AVAILABILITY_BURN, LATENCY_BURN, LATENCY_REGRESSION, COST_ANOMALY, INSTALL_ROLLBACKS,
          DENIAL_SPIKE, TELEMETRY_ABSENT, EVALUATOR_STALE, WATCHDOG)

# SLO kinds, the values of the `slo` label.
AVAILABILITY = "availability"
LATENCY = "latency"
SLO_KINDS = (AVAILABILITY, LATENCY)
BURN_ALERT_FOR_SLO = {AVAILABILITY: AVAILABILITY_BURN, LATENCY: LATENCY_BURN}

# Severities and the Alertmanager receivers they route to.
PAGE, TICKET, NONE = "page", "ticket", "none"
RECEIVER_PAGER, RECEIVER_TICKETS, RECEIVER_WATCHDOG = "pager", "tickets", "watchdog"

# Evaluator metrics the rules read (issue 6 exports them).
COST_ANOMALY_SCORE = _SCORE.name
COST_ANOMALY_MATERIAL = _MATERIAL.name
EVALUATOR_LAST_SUCCESS = _LAST_SUCCESS.name
EVALUATOR_INTERVAL = _INTERVAL.name
# the evaluator pages when no cycle has succeeded for this many intervals
EVALUATOR_STALE_INTERVALS = 3

# Scrape job of the runtime, for absence and staleness.
RUNTIME_JOB = "pluginops-runtime"

RUNBOOK_BASE = "https://github.com/pluginops/pluginops/blob/main/docs/runbooks"


def runbook(alert: str) -> str:
    return f"{RUNBOOK_BASE}/{alert}.md"


def group(name: str) -> str:
    return f"{PREFIX}-{name}"
