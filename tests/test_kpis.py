"""The plan's KPIs: each computed from known facts to a known answer and judged against its
target; reading a home changes nothing (tests/test_kpi_records.py reads a real one)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.codes import Code
from contracts.kpis import BY_NAME, KPIS, Kpi, Risk, scope_risk
from contracts.layout import Layout
from contracts.outcomes import TransactionState as S
from runtime.install.journal import Journal
from runtime.install.lock import Holder, PluginLock
from runtime.kpi import records
from runtime.kpi.compute import MET, MISSED, NO_BASELINE, NO_DATA, judge, scorecard
from runtime.kpi.facts import (
    REFUSED,
    Attempt,
    Facts,
    GateRun,
    Grant,
    Incident,
    Installed,
    Release,
    Usage,
)

DAY = 86400.0
AT = datetime(2026, 11, 30, tzinfo=UTC).timestamp()


def days_ago(days: float) -> float:
    return AT - days * DAY


def card(facts: Facts) -> dict[str, dict]:
    return {v.name: v.model_dump() for v in scorecard(facts, AT)}


def test_every_kpi_of_the_plan_has_a_definition_a_source_and_a_target() -> None:
    assert len(KPIS) == 10
    assert {k.area for k in KPIS} == {"preflight", "transactions", "slos_and_alerting",
                                      "sandboxing", "harness"}
    for kpi in KPIS:
        assert kpi.definition and kpi.source and kpi.target_text
    assert BY_NAME[Kpi.VERSION_MISMATCH_FAILURES].target_text == "-60% against the previous " \
                                                                 "30 days"
    assert BY_NAME[Kpi.AUTO_RECOVERED].target_text == ">= 95% over 30 days"
    assert BY_NAME[Kpi.COMPAT_DIAGNOSIS].target_text == "<= 120 s over 30 days"


def test_version_mismatch_failures_fall_by_the_share_the_target_asks() -> None:
    before = [Attempt("a", "install", REFUSED, days_ago(40 + i), Code.NO_COMPATIBLE_VERSION)
              for i in range(3)]
    before += [Attempt("b", "update", S.ROLLED_BACK, days_ago(50 + i),
                       Code.HOST_RANGE_UNSATISFIED) for i in range(2)]
    now = [Attempt("a", "install", REFUSED, days_ago(1), Code.NO_COMPATIBLE_VERSION),
           Attempt("c", "install", S.ROLLED_BACK, days_ago(2), Code.API_VERSION_UNSUPPORTED)]
    other = [Attempt("d", "install", S.ROLLED_BACK, days_ago(3), Code.SHA256_MISMATCH),
             Attempt("e", "rollback", S.ROLLED_BACK, days_ago(3), Code.HOST_RANGE_UNSATISFIED),
             Attempt("f", "install", S.ROLLED_BACK, days_ago(70), Code.NO_COMPATIBLE_VERSION)]
    value = card(Facts(attempts=before + now + other))[Kpi.VERSION_MISMATCH_FAILURES]
    assert (value["current"], value["previous"]) == (2.0, 5.0)
    assert value["change"] == pytest.approx(-0.6)
    assert value["status"] == MET
    assert value["detail"] == {Code.NO_COMPATIBLE_VERSION: 1, Code.API_VERSION_UNSUPPORTED: 1}
    worse = card(Facts(attempts=before + now + now))[Kpi.VERSION_MISMATCH_FAILURES]
    assert (worse["current"], worse["status"]) == (4.0, MISSED)


def test_diagnosis_time_runs_from_the_first_compatibility_failure_to_the_next_success() -> None:
    t = days_ago(5)
    attempts = [
        Attempt("a", "install", REFUSED, t, Code.NO_COMPATIBLE_VERSION),
        Attempt("a", "install", S.ROLLED_BACK, t + 30, Code.CAPABILITY_MISSING),
        Attempt("a", "install", S.COMMITTED, t + 90),
        Attempt("b", "update", S.ROLLED_BACK, t + 1000, Code.DEPENDENCY_UNSATISFIABLE),
        Attempt("b", "update", S.COMMITTED, t + 1210),
        Attempt("c", "install", REFUSED, t, Code.NO_COMPATIBLE_VERSION),  # never resolved
        Attempt("d", "install", S.ROLLED_BACK, t, Code.SHA256_MISMATCH),  # not compatibility
        Attempt("d", "install", S.COMMITTED, t + 5000),
    ]
    value = card(Facts(attempts=attempts))[Kpi.COMPAT_DIAGNOSIS]
    assert value["current"] == pytest.approx((90 + 210) / 2)
    assert value["detail"] == {"resolved": 2, "unresolved": 1}
    assert value["status"] == MISSED  # 150 s against at most 120 s
    quick = card(Facts(attempts=attempts[:3]))[Kpi.COMPAT_DIAGNOSIS]
    assert (quick["current"], quick["status"]) == (90.0, MET)


def test_stranded_counts_failed_transactions_orphans_and_plugins_that_fail_the_check() -> None:
    facts = Facts(attempts=[Attempt("a", "update", S.FAILED, days_ago(3), Code.INTERNAL_ERROR),
                            Attempt("b", "update", S.FAILED, days_ago(45), Code.INTERNAL_ERROR)],
                  installed=[Installed("c", "node", "node", "main.py changed size"),
                             Installed("d", "node", "node", None)],
                  orphaned=["tx1"])
    value = card(facts)[Kpi.STRANDED]
    assert (value["current"], value["previous"], value["status"]) == (3.0, 1.0, MISSED)
    assert value["detail"]["inconsistent"] == "c"
    clean = card(Facts(installed=[Installed("d", "node", "node", None)]))[Kpi.STRANDED]
    assert (clean["current"], clean["status"]) == (0.0, MET)


def test_failed_updates_recovered_automatically_include_bake_rollbacks() -> None:
    attempts = [Attempt(f"p{i}", "update", S.ROLLED_BACK, days_ago(1), Code.HEALTH_CHECK_FAILED)
                for i in range(18)]
    attempts += [Attempt("q", "update", S.FAILED, days_ago(2), Code.INTERNAL_ERROR),
                 Attempt("r", "install", S.FAILED, days_ago(2), Code.INTERNAL_ERROR),
                 Attempt("s", "update", S.COMMITTED, days_ago(2))]
    bakes = [Attempt("t", "update", "rolled_back", days_ago(4))]
    value = card(Facts(attempts=attempts, bake_rollbacks=bakes))[Kpi.AUTO_RECOVERED]
    assert value["current"] == pytest.approx(19 / 20)
    assert value["status"] == MET
    assert value["detail"] == {"rolled_back_by_transaction": 18, "rolled_back_by_bake": 1,
                               "left_for_an_operator": 1}
    assert card(Facts())[Kpi.AUTO_RECOVERED]["status"] == NO_DATA


def test_mean_time_to_detect_per_scenario_and_its_change() -> None:
    incidents = [Incident("d1", "error-spike", "A", days_ago(70), 100.0),
                 Incident("d1", "cost-spike", "C", days_ago(70), 80.0),
                 Incident("d2", "error-spike", "A", days_ago(2), 50.0),
                 Incident("d2", "cost-spike", "C", days_ago(2), 58.0),
                 Incident("d2", "telemetry-outage", "T", days_ago(2), None)]
    value = card(Facts(incidents=incidents))[Kpi.MTTD]
    assert (value["current"], value["previous"]) == (54.0, 90.0)
    assert value["change"] == pytest.approx(-0.4)
    assert value["status"] == MET
    assert value["detail"] == {"incidents": 3, "undetected": 1, "mttd_s:cost-spike": 58.0,
                               "mttd_s:error-spike": 50.0}


def test_cost_variance_is_the_mean_squared_coefficient_of_variation_of_daily_unit_cost() -> None:
    usage = [Usage("a", "d", days_ago(d), cost, 10) for d, cost in
             ((1, 10.0), (2, 12.0), (3, 8.0))]  # unit costs 1.0, 1.2, 0.8
    usage += [Usage("b", "d", days_ago(1), 5.0, 5)]  # one day: no variance
    usage += [Usage("a", "d", days_ago(61 + d), cost, 10) for d, cost in
              ((0, 10.0), (1, 14.0), (2, 6.0))]  # unit costs 1.0, 1.4, 0.6
    value = card(Facts(usage=usage))[Kpi.COST_VARIANCE]
    assert value["current"] == pytest.approx(0.08 / 3)  # population variance over mean squared
    assert value["previous"] == pytest.approx(0.32 / 3)
    assert value["change"] == pytest.approx(-0.75)
    assert (value["status"], value["detail"]) == (MET, {"plugins": 1})


def test_profile_coverage_is_judged_on_what_is_installed_now() -> None:
    installed = [Installed("a", "node", "node", None), Installed("b", "agent", "agent", None),
                 Installed("c", "legacy", None, None)]
    value = card(Facts(installed=installed))[Kpi.PROFILE_COVERAGE]
    assert value["current"] == pytest.approx(2 / 3)
    assert (value["status"], value["detail"]["without_profile"]) == (MISSED, "c")
    assert value["previous"] is None
    assert card(Facts(installed=installed[:2]))[Kpi.PROFILE_COVERAGE]["status"] == MET


def test_high_risk_grants_count_only_before_the_first_install_committed() -> None:
    attempts = [Attempt("a", "install", S.COMMITTED, days_ago(10))]
    grants = [Grant("a", "process:spawn", days_ago(10.5)),  # enabled the first install
              Grant("a", "filesystem:/data", days_ago(5)),  # later: not a first-install grant
              Grant("b", "network:*.example.com", days_ago(3)),  # b not installed yet: counts
              Grant("b", "network:api.example.com", days_ago(3)),  # medium
              Grant("c", "process:spawn", days_ago(100))]
    value = card(Facts(attempts=attempts, grants=grants))[Kpi.HIGH_RISK_GRANTS]
    assert value["current"] == 2.0
    assert value["detail"] == {"high_risk": 2, "medium_risk": 1, "low_risk": 0}
    assert (value["previous"], value["status"]) == (1.0, MISSED)
    assert scope_risk("budget:tokens_per_execution") is Risk.LOW
    assert scope_risk("teleport:x") is Risk.HIGH


def test_hotfixes_are_patch_releases_within_a_week_of_the_previous_release() -> None:
    releases = [Release("a", (1, 0, 0), False, days_ago(60)),
                Release("a", (1, 0, 1), False, days_ago(57)),  # hotfix
                Release("a", (1, 1, 0), False, days_ago(40)),  # a feature release
                Release("a", (1, 1, 1), False, days_ago(20)),  # patch, but 20 days later
                Release("a", (1, 1, 2), False, days_ago(19)),  # hotfix
                Release("a", (1, 2, 0), True, days_ago(18)),  # prerelease: ignored
                Release("b", (2, 0, 3), False, days_ago(10))]  # first seen: no predecessor
    value = card(Facts(releases=releases))[Kpi.HOTFIXES]
    assert (value["current"], value["detail"]) == (2.0, {"releases": 6})
    assert value["status"] == NO_BASELINE  # nothing released in the 90 days before


def test_critical_scenario_pass_rate_over_the_gates_of_the_period() -> None:
    gates = [GateRun("a", "1.0.0", days_ago(3), 6, 6), GateRun("b", "1.0.0", days_ago(4), 4, 3),
             GateRun("c", "1.0.0", days_ago(100), 5, 1)]
    value = card(Facts(gate_runs=gates))[Kpi.CRITICAL_PASS_RATE]
    assert (value["current"], value["previous"], value["status"]) == (0.9, 0.2, MET)
    assert value["change"] == pytest.approx(3.5)


@pytest.mark.parametrize(("name", "current", "previous", "status"), [
    (Kpi.VERSION_MISMATCH_FAILURES, 0.0, 0.0, NO_BASELINE),
    (Kpi.VERSION_MISMATCH_FAILURES, 4.0, 10.0, MET),
    (Kpi.VERSION_MISMATCH_FAILURES, 4.1, 10.0, MISSED),
    (Kpi.STRANDED, 0.0, None, MET),
    (Kpi.CRITICAL_PASS_RATE, None, 1.0, NO_DATA),
])
def test_targets_are_judged_by_their_goal(name: str, current: float | None,
                                          previous: float | None, status: str) -> None:
    assert judge(BY_NAME[name], current, previous) == status


def test_reading_an_empty_home_creates_nothing(tmp_path: Path) -> None:
    facts = records.read(tmp_path)
    assert facts == Facts()
    assert list(tmp_path.iterdir()) == []


def test_a_running_transaction_whose_lock_is_free_is_stranded(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    journal = Journal(layout.journal)
    journal.begin("tx-dead", "a", "update", "1.0.0", "1.1.0", pid=999_999, now=AT)
    journal.begin("tx-live", "b", "update", "1.0.0", "1.1.0", pid=1, now=AT)
    journal.close()
    lock = PluginLock(layout.lock("b"))
    lock.try_acquire("b", Holder("tx-live", 1, "update", AT))  # b's process is at work
    try:
        assert records.orphaned(layout) == ["tx-dead"]
    finally:
        lock.release()
    assert sorted(records.orphaned(layout)) == ["tx-dead", "tx-live"]
    assert not layout.lock("a").exists()  # reading takes no lock and writes nothing
