"""The KPIs from a real home's records (an install refused for its version, a failed update
rolled back, a drill): the facts read, a damaged version found, and the scorecard through every
door: the API, the UI, the CLI and the metrics."""

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
from contracts.kpis import KPIS, Kpi
from contracts.layout import Layout
from contracts.outcomes import TransactionState as S
from pluginops.cli import cli
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from runtime.host import HostDescription, this_host
from runtime.install.journal import Journal
from runtime.kpi import drills, records
from runtime.kpi.compute import MET, scorecard
from runtime.kpi.facts import (
    REFUSED,
    Incident,
)
from runtime.registry.index import load_registry
from runtime.registry.publish import publish
from runtime.telemetry.kpi_metrics import KpiMetrics
from tests.install_support import an_installer, publish_plugin

DAY = 86400.0
AT = datetime(2026, 11, 30, tzinfo=UTC).timestamp()


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
