"""The plan's KPIs: the one home of their names, definitions, sources and targets.

A KPI is measured over a period (30, 60 or 90 days ending at the moment asked about) and, as the
plan's targets are mostly relative ("-60% install failures caused by version mismatch"), compared
with the period before it: `change = current / previous - 1`. The runtime computes each from
its durable records (`runtime.kpi`); the weekly report, the UI, the API and the "KPIs" dashboard
show what it computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts.code_names import Code


class Area(StrEnum):
    PREFLIGHT = "preflight"
    TRANSACTIONS = "transactions"
    SLOS = "slos_and_alerting"
    SANDBOX = "sandboxing"
    HARNESS = "harness"


class Goal(StrEnum):
    """How a value meets its target: `reduce_by` a share of the previous period's value, or an
    absolute `at_most` / `at_least`."""

    REDUCE_BY = "reduce_by"
    AT_MOST = "at_most"
    AT_LEAST = "at_least"


class Unit(StrEnum):
    COUNT = "count"
    SECONDS = "seconds"
    RATIO = "ratio"


@dataclass(frozen=True)
class KpiSpec:
    name: str
    area: Area
    title: str
    unit: Unit
    goal: Goal
    target: float
    period_days: int
    definition: str
    source: str

    @property
    def target_text(self) -> str:
        if self.goal is Goal.REDUCE_BY:
            return f"-{self.target:.0%} against the previous {self.period_days} days"
        sign = "<=" if self.goal is Goal.AT_MOST else ">="
        shown = f"{self.target:.0%}" if self.unit is Unit.RATIO else f"{self.target:g}"
        if self.unit is Unit.SECONDS:
            shown = f"{self.target:g} s"
        return f"{sign} {shown} over {self.period_days} days"


# Findings and refusals that mean "this plugin version is not for this host": the causes the
# preflight KPI counts.
VERSION_MISMATCH_CAUSES = frozenset({
    Code.HOST_RANGE_UNSATISFIED, Code.API_VERSION_UNSUPPORTED, Code.NO_COMPATIBLE_VERSION,
    Code.DEPENDENCY_UNSATISFIABLE, Code.DEPENDENCY_CONFLICT,
})
# Compatibility failures (whose diagnosis time is measured): a version mismatch, or a host that
# lacks what the plugin needs.
COMPATIBILITY_CAUSES = VERSION_MISMATCH_CAUSES | frozenset({
    Code.CAPABILITY_MISSING, Code.PERMISSION_NOT_IN_PROFILE, Code.DEPENDENCY_NOT_FOUND,
    Code.DEPENDENCY_CYCLE, Code.ELEVATION_UNMATCHED,
})


class Risk(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# The risk of an elevated scope by its kind: starting processes and reaching the file system
# beyond the profile can touch the host; a network host or a tool reaches one named thing; a
# budget only spends more.
RISK_BY_SCOPE_KIND = {"process": Risk.HIGH, "filesystem": Risk.HIGH, "network": Risk.MEDIUM,
                      "tool": Risk.MEDIUM, "budget": Risk.LOW}


def scope_risk(scope: str) -> Risk:
    """The risk class of a scope `kind:target`; a network wildcard (`network:*...`) is high."""
    kind, _, target = scope.partition(":")
    if kind == "network" and "*" in target:
        return Risk.HIGH
    return RISK_BY_SCOPE_KIND.get(kind, Risk.HIGH)  # an unknown kind is not assumed harmless


HOTFIX_DAYS = 7  # a patch release within this many days of its predecessor is a hotfix


class Kpi:
    """KPI names."""

    VERSION_MISMATCH_FAILURES = "version_mismatch_install_failures"
    COMPAT_DIAGNOSIS = "compatibility_diagnosis_seconds"
    STRANDED = "stranded_or_partial_installs"
    AUTO_RECOVERED = "failed_updates_recovered_automatically"
    MTTD = "mean_time_to_detect_seconds"
    COST_VARIANCE = "execution_cost_variance"
    PROFILE_COVERAGE = "plugins_with_sandbox_profile"
    HIGH_RISK_GRANTS = "high_risk_grants_on_first_install"
    HOTFIXES = "post_release_hotfixes"
    CRITICAL_PASS_RATE = "critical_scenario_pass_rate"


KPIS: tuple[KpiSpec, ...] = (
    KpiSpec(Kpi.VERSION_MISMATCH_FAILURES, Area.PREFLIGHT,
            "Install failures caused by version mismatch", Unit.COUNT, Goal.REDUCE_BY, 0.6, 30,
            "Installs and updates that failed because the plugin version does not fit the host "
            "(host range, API contract, dependency versions, or no compatible version in the "
            "registry).",
            "journal: rolled-back transactions by the finding that failed them, and refused "
            "requests"),
    KpiSpec(Kpi.COMPAT_DIAGNOSIS, Area.PREFLIGHT,
            "Mean diagnosis time of compatibility failures", Unit.SECONDS, Goal.AT_MOST, 120, 30,
            "From a compatibility failure of a plugin to the next successful install or update "
            "of the same plugin, averaged over the failures resolved in the period.",
            "journal: failed and committed transactions of the same plugin"),
    KpiSpec(Kpi.STRANDED, Area.TRANSACTIONS, "Stranded or partial installs", Unit.COUNT,
            Goal.AT_MOST, 0, 30,
            "Transactions of the period that could not be undone (state failed), running ones "
            "whose process is gone, and installed plugins whose active version fails the "
            "consistency check (pointer, folder, file sizes).",
            "journal, plugin folders"),
    KpiSpec(Kpi.AUTO_RECOVERED, Area.TRANSACTIONS,
            "Failed updates recovered automatically", Unit.RATIO, Goal.AT_LEAST, 0.95, 30,
            "Of the updates that failed (the transaction rolled back, or its bake rolled it "
            "back), the share back on the previous version without an operator: rolled back by "
            "the transaction, by recovery or by the bake, not left failed.",
            "journal, bakes"),
    KpiSpec(Kpi.MTTD, Area.SLOS, "Mean time to detect plugin incidents", Unit.SECONDS,
            Goal.REDUCE_BY, 0.4, 60,
            "From an incident's start (a fault a drill injected) to its alert firing in "
            "Alertmanager, averaged over the detected incidents (the undetected are counted "
            "apart), per scenario in the detail.",
            "drill records (`pluginops inject --record`)"),
    KpiSpec(Kpi.COST_VARIANCE, Area.SLOS, "Variance of plugin execution cost", Unit.RATIO,
            Goal.REDUCE_BY, 0.2, 60,
            "Per plugin, the variance of its daily cost per execution (over the days it ran) "
            "divided by the square of its mean: the squared coefficient of variation, averaged "
            "over plugins with at least two days of executions.",
            "metering: daily spend and executions per plugin"),
    KpiSpec(Kpi.PROFILE_COVERAGE, Area.SANDBOX, "Plugins assigned to a sandbox profile",
            Unit.RATIO, Goal.AT_LEAST, 1.0, 60,
            "Installed plugins whose type has a sandbox profile, of all installed plugins, at "
            "the period's end.",
            "journal: installed plugins and their types"),
    KpiSpec(Kpi.HIGH_RISK_GRANTS, Area.SANDBOX, "High-risk permission grants on first install",
            Unit.COUNT, Goal.REDUCE_BY, 0.7, 60,
            "Approved elevated scopes of high risk (process, filesystem, network wildcards) "
            "granted before the plugin's first install committed.",
            "approvals and journal"),
    KpiSpec(Kpi.HOTFIXES, Area.HARNESS, "Post-release plugin hotfixes", Unit.COUNT,
            Goal.REDUCE_BY, 0.5, 90,
            f"Patch releases published within {HOTFIX_DAYS} days of the same plugin's previous "
            "release.",
            "registry index: publication times"),
    KpiSpec(Kpi.CRITICAL_PASS_RATE, Area.HARNESS,
            "Critical-path scenario pass rate before release", Unit.RATIO, Goal.AT_LEAST, 0.9,
            90,
            "Critical scenarios passed of the critical scenarios run by release gates recorded "
            "in the period.",
            "release-gate records"),
)

BY_NAME = {k.name: k for k in KPIS}
