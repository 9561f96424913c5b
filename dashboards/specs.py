"""The four dashboards as specs: what SREs see, panel by panel (titles are defined here once)."""

from __future__ import annotations

from contracts.catalogue import Dashboards
from contracts.kpis import KPIS, Unit
from dashboards import queries as q
from dashboards.build import Panel, Spec

SOURCE = "dashboards/specs.py"

FLEET = Spec(
    uid=Dashboards.FLEET_UID, title=Dashboards.FLEET_TITLE, source=SOURCE,
    description="What is failing, what is expensive, what changed: every plugin at a glance.",
    links=(("Plugin detail", Dashboards.DETAIL_UID),
           ("Installs and security", Dashboards.INSTALLS_UID)),
    panels=(
        Panel("Plugins within their availability budget", "stat", "short",
              "Plugins whose 30-day availability error budget is not yet spent.",
              (q.WITHIN_SLO,), width=6, height=5),
        Panel("SLOs out of budget", "stat", "short",
              "Plugin SLOs (availability or latency) that spent more than their 30-day budget.",
              (q.OUT_OF_BUDGET,), width=6, height=5),
        Panel("Fleet availability", "stat", "percentunit",
              "Successful executions over all executions, fleet-wide.",
              (q.FLEET_AVAILABILITY,), width=6, height=5),
        Panel("Alerts firing", "table", "short",
              "Alerts firing now by name and severity (Watchdog always fires).",
              (q.ALERTS_FIRING,), width=6, height=5),
        Panel("Error budget remaining by plugin", "table", "percentunit",
              "Share of each SLO's 30-day error budget left, lowest first (rules).",
              (q.BUDGET_TABLE,)),
        Panel("Burn rate (1h), fastest burning", "timeseries", "short",
              "Error ratio over 1h divided by the budget ratio: 14.4 pages with the 5m window.",
              (q.BURN_1H,), min=0),
        Panel("Top failing plugins (1h error ratio)", "table", "percentunit",
              "Plugins with failed executions in the last hour, worst first.",
              (q.TOP_FAILING,)),
        Panel("Top costly plugins", "table", "currencyUSD",
              "Metered spend over the dashboard's time range.", (q.TOP_COSTLY,)),
        Panel("Latency p95 and p99 (30m)", "timeseries", "s",
              "The slowest plugins' 30-minute p95 and p99 (recorded rules).",
              (q.FLEET_P95, q.FLEET_P99), min=0),
        Panel("Cost per successful execution", "timeseries", "currencyUSD",
              "Metered cost over successful executions, 5-minute rates.",
              (q.FLEET_COST_PER_SUCCESS,), min=0),
        Panel("Installs and rollbacks", "table", "short",
              "Transactions by plugin, operation and outcome over the time range.",
              (q.INSTALL_OUTCOMES, q.ROLLBACKS_BY_PLUGIN)),
        Panel("Policy denials", "timeseries", "short",
              "Operations denied by sandbox profiles or org policy.", (q.DENIALS_BY_PLUGIN,),
              min=0),
        Panel("Cost anomaly score (evaluator)", "timeseries", "short",
              "Robust seasonal z-score of the latest hour's cost per success; the "
              "PluginCostAnomaly ticket fires above 3.", (q.COST_SCORES,), width=24),
    ))


def _windowed(title: str, unit: str, description: str, window: str, current: str,
              previous: str, exemplar: bool = False) -> Panel:
    return Panel(f"{title} ({window}, previous {window} dashed)", "timeseries", unit, description,
                 (q.Query(current, "this window", exemplar=exemplar),
                  q.Query(previous, f"previous {window}")), time_from=window)


DETAIL = Spec(
    uid=Dashboards.DETAIL_UID, title=Dashboards.DETAIL_TITLE, source=SOURCE,
    description="One plugin over 7 and 30 days against the window before, its budget and its "
                "rollbacks; latency exemplars link to traces.",
    plugin_variable=True, host_variable=True, time_from="now-7d",
    annotations=(("Rollbacks", q.ROLLBACK_ANNOTATION),),
    links=(("Fleet overview", Dashboards.FLEET_UID),),
    panels=(
        _windowed("Availability", "percentunit", "Successful executions over all, hourly "
                  "rates.", "7d", q.availability("1h"), q.availability("1h", "7d")),
        _windowed("Availability", "percentunit", "Successful executions over all, 6-hour "
                  "rates.", "30d", q.availability("6h"), q.availability("6h", "30d")),
        _windowed("Latency p95", "s", "p95 of execution time from the histogram; exemplars "
                  "link to the execution's trace.", "7d", q.latency(0.95, "1h"),
                  q.latency(0.95, "1h", "7d"), exemplar=True),
        _windowed("Latency p99", "s", "p99 of execution time, 6-hour windows.", "30d",
                  q.latency(0.99, "6h"), q.latency(0.99, "6h", "30d")),
        _windowed("Cost per success", "currencyUSD", "Metered cost over successful executions, "
                  "hourly.", "7d", q.cost_per_success("1h"), q.cost_per_success("1h", "7d")),
        _windowed("Cost per success", "currencyUSD", "Metered cost over successful executions, "
                  "6-hour windows.", "30d", q.cost_per_success("6h"),
                  q.cost_per_success("6h", "30d")),
        Panel("Error budget burn-down (30d)", "timeseries", "percentunit",
              "Share of the 30-day error budget left, from the rules and the evaluator.",
              (q.BUDGET_BURN_DOWN, q.BUDGET_EVALUATOR), time_from="30d", max=1),
        Panel("Burn rates", "timeseries", "short",
              "Error ratio over each window divided by the budget ratio.", (q.BURN_RATES,),
              min=0),
        Panel("Latency regression against the previous window (evaluator)", "timeseries",
              "short", "Quantile now over the quantile of the previous window; the evaluator "
              "flags 1.2x with a permutation test.", (q.REGRESSION,), width=24),
        Panel("Availability by host (1h)", "timeseries", "percentunit",
              "Successful executions over all on each runtime host: a failing host stands out "
              "from the fleet (the budget and burn panels are the fleet's).",
              (q.HOST_AVAILABILITY,)),
        Panel("Executions by host and version", "timeseries", "reqps",
              "Executions a second on each host, by version: a bake or a rollout wave shows as "
              "two versions on a host, or hosts on different versions.", (q.HOST_EXECUTIONS,),
              min=0),
    ))

INSTALLS = Spec(
    uid=Dashboards.INSTALLS_UID, title=Dashboards.INSTALLS_TITLE, source=SOURCE,
    description="Install transactions phase by phase, rollbacks and why, and what the sandbox "
                "denied.",
    links=(("Fleet overview", Dashboards.FLEET_UID),),
    panels=(
        Panel("Phase duration p95", "timeseries", "s",
              "p95 of each install phase: download, verify, dependency-prepare, activate, "
              "health-check.", (q.PHASE_P95,), min=0),
        Panel("Transactions by operation and outcome", "timeseries", "short",
              "Installs, updates, rollbacks and uninstalls: committed, rolled back or failed.",
              (q.TRANSACTIONS,), min=0),
        Panel("Rollbacks by phase and reason", "table", "short",
              "Automatic and requested rollbacks over the time range.", (q.ROLLBACK_REASONS,)),
        Panel("Denials by operation", "timeseries", "short",
              "Sandbox and policy denials by operation and profile.", (q.DENIALS_BY_OPERATION,),
              min=0),
        Panel("Installs in flight", "timeseries", "short",
              "Plugins with a transaction in progress.", (q.IN_FLIGHT,), min=0),
        Panel("Preflight findings by code", "table", "short",
              "Findings of preflight runs (publish, install, CI) over the time range.",
              (q.PREFLIGHT,)),
    ))

UNITS = {Unit.COUNT: "short", Unit.SECONDS: "s", Unit.RATIO: "percentunit"}

KPI_DASHBOARD = Spec(
    uid=Dashboards.KPIS_UID, title=Dashboards.KPIS_TITLE, source=SOURCE,
    description="The plan's KPIs, fleet-wide, each over its period against the period before "
                "and its target (rules from the runtime's durable records; `pluginops kpi` and "
                "the weekly report compute the same).",
    time_from="now-30d",
    links=(("Fleet overview", Dashboards.FLEET_UID),
           ("Installs and security", Dashboards.INSTALLS_UID)),
    panels=tuple(
        Panel(f"{kpi.title} ({kpi.target_text})", "timeseries", UNITS[kpi.unit],
              f"{kpi.definition} Source: {kpi.source}.",
              (q.kpi_now(kpi.name), q.kpi_previous(kpi.name), q.kpi_goal(kpi.name)), min=0)
        for kpi in KPIS))

ALL = {"fleet-overview.json": FLEET, "plugin-detail.json": DETAIL,
       "installs-security.json": INSTALLS, "kpis.json": KPI_DASHBOARD}
