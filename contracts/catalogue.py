"""The catalogue: the one home of every Prometheus metric name, label key and label value set.

Everything that emits, records, alerts on or draws a metric imports it from here; generated rules
and dashboards are checked against it. Names follow the Prometheus naming guide (base units,
`_total` for counters, `_seconds` for durations).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from contracts.outcomes import ExecutionOutcome, TransactionState

NAMESPACE = "pluginops"


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Label:
    """Label keys. Values of `plugin` are capped per process (see PLUGIN_LABEL_CAP)."""

    PLUGIN = "plugin"
    PLUGIN_TYPE = "plugin_type"
    VERSION = "version"
    OUTCOME = "outcome"
    OPERATION = "operation"
    PHASE = "phase"
    REASON = "reason"
    PROFILE = "profile"
    CODE = "code"
    SLO = "slo"
    WINDOW = "window"
    # Not `quantile`: Prometheus reserves that label for summaries (promtool check metrics).
    PERCENTILE = "percentile"
    PYTHON = "python"
    STATE = "state"
    RESULT = "result"
    CAUSE = "cause"
    RISK = "risk"
    RECOVERY = "recovery"


PLUGIN_TYPES = ("node", "integration", "agent", "quality_gate")
EXECUTION_OUTCOMES = tuple(ExecutionOutcome)
TRANSACTION_OUTCOMES = (TransactionState.COMMITTED, TransactionState.ROLLED_BACK,
                        TransactionState.FAILED, TransactionState.AWAITING_APPROVAL)
TRANSACTION_OPERATIONS = ("install", "update", "rollback", "uninstall")
INSTALL_PHASES = ("download", "verify", "dependency-prepare", "activate", "health-check")

# Distinct `plugin` label values one process reports before folding the rest into OVERFLOW_PLUGIN,
# so that a runaway fleet cannot explode series cardinality.
PLUGIN_LABEL_CAP = 1000
OVERFLOW_PLUGIN = "other"

# Latency bucket bounds (seconds). Every latency SLO threshold must be one of these exactly, so
# the good-event count is a bucket and never an interpolation.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
PHASE_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    # a gauge of several serving processes (`serve --processes`): their sum, or their maximum
    across_processes: Literal["livesum", "max"] = "livesum"

    @property
    def exposed_names(self) -> tuple[str, ...]:
        """The series names Prometheus will actually store for this metric."""
        if self.type is MetricType.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


PLUGIN_EXECUTIONS = MetricSpec(
    f"{NAMESPACE}_plugin_executions_total", MetricType.COUNTER,
    "Plugin executions by outcome.",
    (Label.PLUGIN, Label.PLUGIN_TYPE, Label.VERSION, Label.OUTCOME),
)
PLUGIN_EXECUTION_DURATION = MetricSpec(
    f"{NAMESPACE}_plugin_execution_duration_seconds", MetricType.HISTOGRAM,
    "Wall time of plugin executions.",
    (Label.PLUGIN, Label.PLUGIN_TYPE), LATENCY_BUCKETS,
)
PLUGIN_EXECUTION_COST = MetricSpec(
    f"{NAMESPACE}_plugin_execution_cost_usd_total", MetricType.COUNTER,
    "Metered cost of plugin executions in US dollars.",
    (Label.PLUGIN, Label.PLUGIN_TYPE),
)
PLUGIN_TOKENS = MetricSpec(
    f"{NAMESPACE}_plugin_tokens_total", MetricType.COUNTER,
    "Model tokens spent by plugins.",
    (Label.PLUGIN,),
)
INSTALL_TRANSACTIONS = MetricSpec(
    f"{NAMESPACE}_install_transactions_total", MetricType.COUNTER,
    "Install, update, rollback and uninstall transactions by outcome.",
    (Label.PLUGIN, Label.OPERATION, Label.OUTCOME),
)
INSTALL_PHASE_DURATION = MetricSpec(
    f"{NAMESPACE}_install_phase_duration_seconds", MetricType.HISTOGRAM,
    "Duration of install transaction phases.",
    (Label.PHASE,), PHASE_BUCKETS,
)
INSTALL_IN_PROGRESS = MetricSpec(
    f"{NAMESPACE}_install_in_progress", MetricType.GAUGE,
    "1 while an install transaction for the plugin is in flight.",
    (Label.PLUGIN,),
)
ROLLBACKS = MetricSpec(
    f"{NAMESPACE}_rollbacks_total", MetricType.COUNTER,
    "Automatic and requested rollbacks by failing phase and reason.",
    (Label.PLUGIN, Label.PHASE, Label.REASON),
)
BAKES = MetricSpec(
    f"{NAMESPACE}_bakes_total", MetricType.COUNTER,
    "Bakes finished, by outcome: promoted, rolled_back (the evidence found a regression) or "
    "ended (another operation on the plugin came first).",
    (Label.PLUGIN, Label.OUTCOME),
)
BAKE_IN_PROGRESS = MetricSpec(
    f"{NAMESPACE}_bake_in_progress", MetricType.GAUGE,
    "1 while a new version of the plugin bakes (serves a share of executions beside the version "
    "it replaced).",
    (Label.PLUGIN,),
)
POLICY_DENIALS = MetricSpec(
    f"{NAMESPACE}_policy_denials_total", MetricType.COUNTER,
    "Operations denied by a sandbox profile or org policy.",
    (Label.PLUGIN, Label.PROFILE, Label.OPERATION),
)
PREFLIGHT_FINDINGS = MetricSpec(
    f"{NAMESPACE}_preflight_findings_total", MetricType.COUNTER,
    "Preflight findings by code.",
    (Label.CODE,),
)
BUILD_INFO = MetricSpec(
    f"{NAMESPACE}_build_info", MetricType.GAUGE,
    "Always 1: the running Pluginops version and Python (join on it to see what runs where).",
    (Label.VERSION, Label.PYTHON), across_processes="max",
)
HTTP_REQUESTS_IN_FLIGHT = MetricSpec(
    f"{NAMESPACE}_http_requests_in_flight", MetricType.GAUGE,
    "API and UI requests being served (probes and scrapes not counted).",
    (),
)

# Exported by the evaluator (`pluginops evaluate --serve`), read by alerts and dashboards.
SLO_BUDGET_REMAINING = MetricSpec(
    f"{NAMESPACE}_slo_error_budget_remaining_ratio", MetricType.GAUGE,
    "Share of the SLO period's error budget left (1 untouched, 0 spent, below 0 overspent).",
    (Label.PLUGIN, Label.PLUGIN_TYPE, Label.SLO),
)
SLO_BURN_RATE = MetricSpec(
    f"{NAMESPACE}_slo_burn_rate", MetricType.GAUGE,
    "Error ratio over a window divided by the error budget ratio (1 spends it exactly).",
    (Label.PLUGIN, Label.PLUGIN_TYPE, Label.SLO, Label.WINDOW),
)
COST_ANOMALY_SCORE = MetricSpec(
    f"{NAMESPACE}_cost_anomaly_score", MetricType.GAUGE,
    "Normal score of the latest hour's cost per successful execution against its seasonal "
    "baseline, from the strongest of the 1 h to 72 h evidence windows (the successes behind it "
    "counted).",
    (Label.PLUGIN, Label.PLUGIN_TYPE),
)
COST_ANOMALY_MATERIAL = MetricSpec(
    f"{NAMESPACE}_cost_anomaly_material", MetricType.GAUGE,
    "1 while the plugin's ongoing cost anomaly has cost more than its materiality floor (in "
    "dollars and share of spend), else 0: an immaterial anomaly is listed, never alerted.",
    (Label.PLUGIN, Label.PLUGIN_TYPE),
)
LATENCY_REGRESSION_RATIO = MetricSpec(
    f"{NAMESPACE}_latency_regression_ratio", MetricType.GAUGE,
    "Latency quantile of the current window divided by the previous window's.",
    (Label.PLUGIN, Label.PLUGIN_TYPE, Label.PERCENTILE),
)
# The evaluator's own health (`evaluate --serve`): `PluginopsEvaluatorStale` reads these.
EVALUATOR_LAST_SUCCESS = MetricSpec(
    f"{NAMESPACE}_evaluator_last_success_timestamp_seconds", MetricType.GAUGE,
    "When the last evaluation cycle that succeeded ended (unix seconds).", ())
EVALUATOR_INTERVAL = MetricSpec(
    f"{NAMESPACE}_evaluator_interval_seconds", MetricType.GAUGE,
    "Seconds between evaluation cycles (--interval).", ())
EVALUATOR_CYCLE_DURATION = MetricSpec(
    f"{NAMESPACE}_evaluator_cycle_duration_seconds", MetricType.GAUGE,
    "How long the last evaluation cycle took, whatever its result.", ())
EVALUATOR_CYCLES = MetricSpec(
    f"{NAMESPACE}_evaluator_cycles_total", MetricType.COUNTER,
    "Evaluation cycles by result; a failure's reason is its error code or exception type.",
    (Label.OUTCOME, Label.REASON))
EVALUATOR_PLUGINS = MetricSpec(
    f"{NAMESPACE}_evaluator_plugins_evaluated", MetricType.GAUGE,
    "Plugins in the exported evaluation.", ())
EVALUATOR_SOURCE_REQUESTS = MetricSpec(
    f"{NAMESPACE}_evaluator_source_requests_total", MetricType.COUNTER,
    "HTTP requests made to the telemetry source (retries included).", ())
EVALUATOR_STALE = MetricSpec(
    f"{NAMESPACE}_evaluator_results_stale", MetricType.GAUGE,
    "1 when the exported figures come from an earlier cycle than the last one (it failed).", ())
EVALUATOR_HEALTH_METRICS: tuple[MetricSpec, ...] = (
    EVALUATOR_LAST_SUCCESS, EVALUATOR_INTERVAL, EVALUATOR_CYCLE_DURATION, EVALUATOR_CYCLES,
    EVALUATOR_PLUGINS, EVALUATOR_SOURCE_REQUESTS, EVALUATOR_STALE,
)
EVALUATOR_METRICS: tuple[MetricSpec, ...] = (
    SLO_BUDGET_REMAINING, SLO_BURN_RATE, COST_ANOMALY_SCORE, COST_ANOMALY_MATERIAL,
    LATENCY_REGRESSION_RATIO, *EVALUATOR_HEALTH_METRICS,
)

# The plan's KPIs, counted from the durable records at scrape time (runtime/telemetry/
# kpi_metrics.py; contracts/kpis.py defines the KPIs). Fleet-wide figures: no `plugin` label.
# The label values the KPI rules read are exposed at 0 from the start, so that the first event
# of each is an increase Prometheus sees (a series born at 1 has no increase).
NO_PROFILE = "none"  # the `profile` of an installed plugin whose type has no sandbox profile
RECOVERIES = ("transaction", "bake", "operator")  # who put a failed update's old version back
DRILL_RESULTS = ("detected", "undetected")
GATE_OUTCOMES = ("passed", "failed")
INSTALL_FAILURES = MetricSpec(
    f"{NAMESPACE}_install_failures_total", MetricType.COUNTER,
    "Installs and updates that failed or were refused before a transaction began, by the "
    "finding or error behind them (the preflight finding behind PREFLIGHT_FAILED).",
    (Label.OPERATION, Label.CAUSE))
COMPATIBILITY_DIAGNOSES = MetricSpec(
    f"{NAMESPACE}_compatibility_diagnoses_total", MetricType.COUNTER,
    "Compatibility failures resolved: a plugin's failures for a compatibility finding, ended by "
    "its next successful install or update.", ())
COMPATIBILITY_DIAGNOSIS_SECONDS = MetricSpec(
    f"{NAMESPACE}_compatibility_diagnosis_seconds_total", MetricType.COUNTER,
    "Seconds from the first failure of each resolved compatibility failure to the success that "
    "resolved it.", ())
FAILED_UPDATES = MetricSpec(
    f"{NAMESPACE}_failed_updates_total", MetricType.COUNTER,
    "Updates that failed, by what put the previous version back: the transaction (its rollback "
    "or recovery), the bake, or nothing yet (operator: the transaction could not be undone).",
    (Label.RECOVERY,))
FIRST_INSTALL_GRANTS = MetricSpec(
    f"{NAMESPACE}_first_install_grants_total", MetricType.COUNTER,
    "Elevated scopes approved before the plugin's first install committed, by risk class.",
    (Label.RISK,))
PLUGINS_INSTALLED = MetricSpec(
    f"{NAMESPACE}_plugins_installed", MetricType.GAUGE,
    "Installed plugins by sandbox profile (none: the plugin's type has no profile).",
    (Label.PROFILE,))
PARTIAL_INSTALLS = MetricSpec(
    f"{NAMESPACE}_partial_installs", MetricType.GAUGE,
    "Installed plugins whose active version fails the consistency check (pointer, folder, file "
    "sizes), plus transactions whose process died before recovery ran; checked once a minute.",
    ())
DRILL_INCIDENTS = MetricSpec(
    f"{NAMESPACE}_drill_incidents_total", MetricType.COUNTER,
    "Incidents fault drills injected (`pluginops inject --record`), by whether their page "
    "arrived (the scorecard has them by scenario).", (Label.RESULT,))
DRILL_DETECTION_SECONDS = MetricSpec(
    f"{NAMESPACE}_drill_detection_seconds_total", MetricType.COUNTER,
    "Seconds from each detected drill incident's start to its page.", ())
GATE_CRITICAL_SCENARIOS = MetricSpec(
    f"{NAMESPACE}_gate_critical_scenarios_total", MetricType.COUNTER,
    "Critical scenarios of the release gates recorded on this host, by outcome.",
    (Label.OUTCOME,))
REGISTRY_RELEASES = MetricSpec(
    f"{NAMESPACE}_registry_releases_total", MetricType.COUNTER,
    "Releases (prereleases aside) in the registry this runtime installs from; every host reading "
    "one registry reports the same count (take the max across hosts, not the sum).", ())
REGISTRY_HOTFIXES = MetricSpec(
    f"{NAMESPACE}_registry_hotfixes_total", MetricType.COUNTER,
    "Releases in that registry that are patch releases published within a week of the "
    "plugin's previous release.", ())
COST_VARIANCE = MetricSpec(
    f"{NAMESPACE}_execution_cost_variance_ratio", MetricType.GAUGE,
    "Over the last 60 days, each plugin's variance of daily cost per execution over its mean "
    "squared, averaged over this host's plugins (from the metering record).", ())
KPI_METRICS: tuple[MetricSpec, ...] = (
    INSTALL_FAILURES, COMPATIBILITY_DIAGNOSES, COMPATIBILITY_DIAGNOSIS_SECONDS, FAILED_UPDATES,
    FIRST_INSTALL_GRANTS, PLUGINS_INSTALLED, PARTIAL_INSTALLS, DRILL_INCIDENTS,
    DRILL_DETECTION_SECONDS, GATE_CRITICAL_SCENARIOS, REGISTRY_RELEASES, REGISTRY_HOTFIXES,
    COST_VARIANCE)

# The warm worker pool (runtime/sandbox/pool.py).
POOL_STATES = ("idle", "busy")
POOL_RESULTS = ("hit", "miss", "busy")  # busy: refused, no worker came free in time
POOL_EVICTIONS = ("lru", "memory", "idle")
START_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
POOL_WORKERS = MetricSpec(
    f"{NAMESPACE}_worker_pool_workers", MetricType.GAUGE,
    "Sandbox workers alive, idle (warm, waiting) or busy (executing).", (Label.STATE,))
POOL_MEMORY = MetricSpec(
    f"{NAMESPACE}_worker_pool_resident_bytes", MetricType.GAUGE,
    "Resident memory of the pool's workers, as last measured.", ())
POOL_ACQUISITIONS = MetricSpec(
    f"{NAMESPACE}_worker_pool_acquisitions_total", MetricType.COUNTER,
    "Workers asked for: a warm one (hit), a cold start (miss), or refused (busy).",
    (Label.RESULT,))
POOL_EVICTIONS_TOTAL = MetricSpec(
    f"{NAMESPACE}_worker_pool_evictions_total", MetricType.COUNTER,
    "Idle workers stopped to make room (lru, memory) or after idling too long (idle).",
    (Label.REASON,))
WORKER_START_DURATION = MetricSpec(
    f"{NAMESPACE}_worker_start_duration_seconds", MetricType.HISTOGRAM,
    "Cold starts: from spawning a sandbox worker to its plugin imported and locked down.", (),
    START_BUCKETS)
POOL_METRICS: tuple[MetricSpec, ...] = (POOL_WORKERS, POOL_MEMORY, POOL_ACQUISITIONS,
                                        POOL_EVICTIONS_TOTAL, WORKER_START_DURATION)

# Read from the durable record at scrape time (runtime/telemetry/durable.py), not counted by
# the process that ran the operation: every process's operations count, once. From the journal:
JOURNAL_METRICS: tuple[MetricSpec, ...] = (INSTALL_TRANSACTIONS, ROLLBACKS, INSTALL_IN_PROGRESS,
                                           INSTALL_PHASE_DURATION)
# from the audit log:
AUDIT_METRICS: tuple[MetricSpec, ...] = (POLICY_DENIALS,)
# from the bakes' records:
BAKE_METRICS: tuple[MetricSpec, ...] = (BAKES, BAKE_IN_PROGRESS)
DURABLE_METRICS: tuple[MetricSpec, ...] = (*JOURNAL_METRICS, *AUDIT_METRICS, *BAKE_METRICS,
                                           *KPI_METRICS)

# What the runtime exports (the evaluator exports EVALUATOR_METRICS from its own registry).
ALL_METRICS: tuple[MetricSpec, ...] = (
    PLUGIN_EXECUTIONS,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTION_COST,
    PLUGIN_TOKENS,
    INSTALL_TRANSACTIONS,
    INSTALL_PHASE_DURATION,
    INSTALL_IN_PROGRESS,
    ROLLBACKS,
    *BAKE_METRICS,
    POLICY_DENIALS,
    PREFLIGHT_FINDINGS,
    HTTP_REQUESTS_IN_FLIGHT,
    BUILD_INFO,
    *POOL_METRICS,
    *KPI_METRICS,
)


# The exemplar label linking a latency observation to its trace (Grafana's datasource reads it).
EXEMPLAR_TRACE_ID = "trace_id"


class Span:
    """Span names and attribute keys of the traces the runtime emits."""

    PREFLIGHT_MANIFEST = "pluginops.preflight.manifest"
    PUBLISH = "pluginops.publish"
    EXECUTE = "pluginops.execute"
    ATTR_OUTCOME = "pluginops.outcome"
    ATTR_ERROR_TYPE = "error.type"  # OpenTelemetry's semantic convention, on failed executions
    INSTALL_TRANSACTION = "pluginops.install.transaction"
    INSTALL_PHASE = "pluginops.install.phase"
    INSTALL_RECOVER = "pluginops.install.recover"
    ATTR_REPAIRED = "pluginops.install.repaired"
    ATTR_OPERATION = "pluginops.operation"
    ATTR_PHASE = "pluginops.phase"
    ATTR_PLUGIN = "pluginops.plugin"
    ATTR_VERSION = "pluginops.version"
    ATTR_MANIFEST = "pluginops.manifest"
    ATTR_OK = "pluginops.preflight.ok"
    ATTR_FINDINGS = "pluginops.preflight.findings"
    ATTR_CORRELATION_ID = "pluginops.correlation_id"


class Dashboards:
    """UIDs and titles of the generated Grafana dashboards (links and provisioning use these)."""

    FLEET_UID = "pluginops-fleet"
    FLEET_TITLE = "Pluginops / Fleet overview"
    DETAIL_UID = "pluginops-plugin"
    DETAIL_TITLE = "Pluginops / Plugin detail"
    INSTALLS_UID = "pluginops-installs"
    INSTALLS_TITLE = "Pluginops / Installs and security"
    KPIS_UID = "pluginops-kpis"
    KPIS_TITLE = "Pluginops / KPIs"
    FOLDER = "Pluginops"
    TAG = "pluginops"
    # Datasource UIDs the provisioning creates and the dashboards default to.
    PROMETHEUS_UID = "pluginops-prometheus"
    ALERTMANAGER_UID = "pluginops-alertmanager"
    TRACES_UID = "pluginops-traces"
    DATASOURCE_VARIABLE = "datasource"
    PLUGIN_VARIABLE = "plugin"
    HOST_VARIABLE = "host"  # the runtime hosts (the scraper's `host` label); All by default
