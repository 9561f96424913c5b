"""The plan's KPIs: each computed from known facts to a known answer, judged against its target,
and read from a real home's records (an install refused for its version, a failed update
rolled back, a gate record, a drill)."""

from __future__ import annotations

import html
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from contracts.catalogue import (
    DRILL_DETECTION_SECONDS,
    DRILL_INCIDENTS,
    FAILED_UPDATES,
    INSTALL_FAILURES,
    PARTIAL_INSTALLS,
    PLUGINS_INSTALLED,
)
from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.kpis import BY_NAME, KPIS, Kpi, Risk, scope_risk
from contracts.layout import Layout
from contracts.outcomes import TransactionState as S
from pluginops.cli import cli
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from runtime.host import HostDescription, this_host
from runtime.install.journal import Journal
from runtime.install.lock import Holder, PluginLock
from runtime.kpi import drills, records
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
from runtime.registry.index import load_registry
from runtime.registry.publish import publish
from runtime.telemetry.kpi_metrics import KpiMetrics
from tests.install_support import an_installer, publish_plugin

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


@pytest.fixture
def home_with_history(tmp_path: Path, writable_registry: Path,
                      signing_key: Ed25519PrivateKey) -> tuple[Path, Path]:
    """A home where: a plugin built for host 3 was refused, `kpi-demo` installed, an update
    that fails its health check rolled back, and a drill recorded."""
    home = tmp_path / "home"
    registry = writable_registry
    later = HostDescription(version="3.0.0", api=list(this_host().api), capabilities=[])
    folder = tmp_path / "future"
    folder.mkdir()
    (folder / "plugin.json").write_text(
        '{"name": "future", "version": "1.0.0", "type": "node", "host": "^3.0.0", '
        '"api": "4.0", "entrypoint": "main:run"}')
    (folder / "main.py").write_text("def run(ctx, inputs):\n    return inputs\n")
    publish(folder, registry, later, signing_key)
    publish_plugin(registry, tmp_path / "src", signing_key, "kpi-demo", "1.0.0",
                   "def run(ctx, inputs):\n    return inputs\n")
    publish_plugin(registry, tmp_path / "src", signing_key, "kpi-demo", "1.1.0",
                   "def run(ctx, inputs):\n    return inputs\n"
                   "def health(ctx):\n    raise RuntimeError('not healthy')\n")
    installer = an_installer(home, registry, signing_key)
    with pytest.raises(PluginopsError) as refused:
        installer.install("future")
    assert refused.value.code == Code.NO_COMPATIBLE_VERSION
    assert installer.install("kpi-demo@1.0.0").state == S.COMMITTED
    assert installer.update("kpi-demo").state == S.ROLLED_BACK
    drills.record(Layout(home).drills_db, [
        Incident("d1", "error-spike", "PluginAvailabilityBudgetBurn", AT - 60, 64.5),
        Incident("d1", "telemetry-outage", "RuntimeTargetDown", AT - 60, None)])
    return home, registry


def test_a_homes_records_give_the_scorecard_its_facts(home_with_history: tuple[Path, Path]
                                                     ) -> None:
    home, registry = home_with_history
    facts = records.read(home, load_registry(registry))
    by_plugin = {(a.plugin, a.operation, a.state): a.cause for a in facts.attempts}
    assert by_plugin[("future", "install", REFUSED)] == Code.NO_COMPATIBLE_VERSION
    assert by_plugin[("kpi-demo", "install", S.COMMITTED)] == ""
    assert by_plugin[("kpi-demo", "update", S.ROLLED_BACK)] == Code.HEALTH_CHECK_FAILED
    assert [(i.plugin, i.profile, i.problem) for i in facts.installed] == \
        [("kpi-demo", "node", None)]
    assert {(r.plugin, r.version) for r in facts.releases} >= {("future", (1, 0, 0)),
                                                                ("kpi-demo", (1, 1, 0))}
    assert [(i.scenario, i.detected_s) for i in facts.incidents] == \
        [("error-spike", 64.5), ("telemetry-outage", None)]
    values = {v.name: v for v in scorecard(facts, datetime.now(UTC).timestamp() + 1)}
    assert values[Kpi.VERSION_MISMATCH_FAILURES].current == 1.0
    assert values[Kpi.AUTO_RECOVERED].current == 1.0
    assert values[Kpi.STRANDED].current == 0.0
    assert values[Kpi.PROFILE_COVERAGE].current == 1.0


def test_a_damaged_active_version_is_a_partial_install(home_with_history: tuple[Path, Path]
                                                      ) -> None:
    home, _ = home_with_history
    layout = Layout(home)
    (layout.version_dir("kpi-demo", "1.0.0") / "main.py").write_text("")
    facts = records.read(home)
    assert [(i.plugin, i.problem) for i in facts.installed] == \
        [("kpi-demo", "main.py changed size")]
    shutil.rmtree(layout.version_dir("kpi-demo", "1.0.0"))
    assert records.read(home).installed[0].problem == "1.0.0 is missing"


def test_reading_an_empty_home_creates_nothing(tmp_path: Path) -> None:
    facts = records.read(tmp_path)
    assert facts == Facts()
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def kpi_app(home_with_history: tuple[Path, Path], signing_key: Ed25519PrivateKey
            ) -> tuple[FlaskClient, TokenStore, Path]:
    home, registry = home_with_history
    tokens = TokenStore(home)
    app = create_app(ApiConfig(installer=lambda **_: an_installer(home, registry, signing_key),
                               tokens=tokens, ui_home=home, session_secret=b"s" * 32))
    return app.test_client(), tokens, home


def test_the_api_serves_the_scorecard_to_a_viewer(kpi_app: tuple[FlaskClient, TokenStore, Path]
                                                 ) -> None:
    client, tokens, _ = kpi_app
    assert client.get("/v1/kpis").status_code == 401
    token, _ = tokens.create("vera", "viewer", "tests")
    answer = client.get("/v1/kpis", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    body = answer.get_json()
    by_name = {k["name"]: k for k in body["kpis"]}
    assert set(by_name) == {k.name for k in KPIS}
    assert by_name[Kpi.VERSION_MISMATCH_FAILURES]["current"] == 1.0
    assert by_name[Kpi.MTTD]["current"] == 64.5
    assert by_name[Kpi.MTTD]["detail"]["undetected"] == 1
    assert by_name[Kpi.AUTO_RECOVERED]["status"] == MET
    later = client.get(f"/v1/kpis?at={AT + 100 * DAY}",
                       headers={"Authorization": f"Bearer {token}"}).get_json()
    assert {k["name"]: k["current"] for k in later["kpis"]}[Kpi.MTTD] is None  # out of period
    bad = client.get("/v1/kpis?at=yesterday", headers={"Authorization": f"Bearer {token}"})
    assert (bad.status_code, bad.get_json()["error"]["code"]) == (400, Code.BAD_REQUEST)


def test_the_ui_shows_each_kpi_against_its_target(kpi_app: tuple[FlaskClient, TokenStore, Path]
                                                 ) -> None:
    client, tokens, _ = kpi_app
    assert client.get("/ui/kpis").status_code == 302  # to the sign-in page
    token, _ = tokens.create("vera", "viewer", "tests")
    client.post("/ui/login", data={"token": token})
    page = client.get("/ui/kpis").get_data(as_text=True)
    for kpi in KPIS:
        assert f'id="kpi-{kpi.name}"' in page
        assert html.escape(kpi.target_text) in page
    row = page[page.index(f'id="kpi-{Kpi.MTTD}"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="current">64 s</td>' in row
    assert "no baseline yet" in row
    assert "incidents 2, undetected 1, mttd s: error-spike 64.5" in row  # per scenario


def test_the_cli_prints_the_scorecard_and_checks_it(home_with_history: tuple[Path, Path]) -> None:
    home, registry = home_with_history
    runner = CliRunner()
    shown = runner.invoke(cli, ["kpi", "--home", str(home), "--registry", str(registry),
                                "--format", "json"])
    assert shown.exit_code == 0, shown.output
    values = {k["name"]: k for k in json.loads(shown.stdout)["kpis"]}
    assert values[Kpi.PROFILE_COVERAGE]["current"] == 1.0
    text = runner.invoke(cli, ["kpi", "--home", str(home)]).stdout
    assert "Mean time to detect plugin incidents: 64 s (previous -, change -); target -40% " \
           "against the previous 60 days: no baseline yet" in text
    Layout(home).version_dir("kpi-demo", "1.0.0").joinpath("main.py").write_text("")
    checked = runner.invoke(cli, ["kpi", "--home", str(home), "--check"])
    assert checked.exit_code == 1
    assert "Stranded or partial installs: 1" in checked.stdout


def test_metrics_count_the_same_records_every_process_wrote(home_with_history: tuple[Path, Path]
                                                           ) -> None:
    home, _ = home_with_history
    registry = CollectorRegistry()
    registry.register(KpiMetrics(home))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value(INSTALL_FAILURES.name, operation="install",
                 cause=Code.NO_COMPATIBLE_VERSION) == 1
    assert value(FAILED_UPDATES.name, recovery="transaction") == 1
    assert value(PLUGINS_INSTALLED.name, profile="node") == 1
    assert value(PARTIAL_INSTALLS.name) == 0
    assert value(DRILL_INCIDENTS.name, result="detected") == 1
    assert value(DRILL_INCIDENTS.name, result="undetected") == 1
    assert value(DRILL_DETECTION_SECONDS.name) == 64.5
    # what the KPI rules read is there from the start, at 0: a first event is an increase
    assert value(FAILED_UPDATES.name, recovery="bake") == 0
    assert value(INSTALL_FAILURES.name, operation="update",
                 cause=Code.HOST_RANGE_UNSATISFIED) == 0
    # a refusal written by another process (here, this one's journal) is counted on the next
    # scrape: the records changed
    journal = Journal(Layout(home).journal)
    journal.refuse("future", "update", Code.NO_COMPATIBLE_VERSION, "none fits", AT)
    journal.close()
    assert value(INSTALL_FAILURES.name, operation="update",
                 cause=Code.NO_COMPATIBLE_VERSION) == 1


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
