"""The golden harness: it passes every example plugin, fails each broken one in the scenario that
shows the break, gates releases (and publish honours the gate), derives the compatibility
matrix, and runs as a pytest plugin."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pluginops.cli import cli
from runtime.harness import matrix as compat
from runtime.harness.run import plan_for, run
from runtime.harness.scenarios import preflight as scenario_preflight
from runtime.harness.scenarios import run_one
from runtime.harness.world import world
from runtime.host import API_VERSIONS, HostDescription, load_host, this_host
from runtime.preflight.run import PreflightContext, check_path
from runtime.registry.index import load_registry
from tests.conftest import EXAMPLES, REPO

BROKEN = EXAMPLES / "harness-broken"
PLUGINOPS = str(Path(sys.executable).parent / "pluginops")
LEGACY_HOST = EXAMPLES / "hosts" / "legacy-3.1.json"
PREVIOUS = {"json-transform-v2": [EXAMPLES / "plugins" / "json-transform"]}


@pytest.fixture(scope="session")
def trust_key(tmp_path_factory: pytest.TempPathFactory, signing_key: Ed25519PrivateKey) -> Path:
    path = tmp_path_factory.mktemp("trust") / "examples.pub"
    path.write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def _statuses(report_dict: dict[str, object]) -> dict[str, str]:
    return {s["scenario"]: s["status"] for s in report_dict["scenarios"]}  # type: ignore[index,union-attr]


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.name for p in (EXAMPLES / "plugins").iterdir()))
def test_every_example_plugin_passes_the_harness(example: str, example_registry: Path,
                                                 trust_key: Path) -> None:
    plan = plan_for(EXAMPLES / "plugins" / example, PREVIOUS.get(example, []),
                    example_registry, (trust_key,), API_VERSIONS)
    report = run(plan)
    failed = [(r.name, r.detail) for r in report.results if r.status == "failed"]
    assert report.passed and not failed, failed
    statuses = {r.name: r.status for r in report.results}
    assert statuses["execute"] == statuses["uninstall"] == "passed"
    assert all(statuses[f"failure@{p}"] == "passed" for p in
               ("download", "verify", "dependency-prepare", "activate", "health-check"))
    if example in PREVIOUS:
        assert statuses["update"] == statuses["rollback"] == "passed"


def _harness(*args: str) -> tuple[int, dict[str, object], str]:
    done = subprocess.run([PLUGINOPS, "harness", *args, "--format", "json"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    return done.returncode, json.loads(done.stdout), done.stderr


@pytest.mark.slow
def test_an_update_that_breaks_the_health_check_fails_the_update_scenario() -> None:
    code, report, _ = _harness(str(BROKEN / "health-breaks-on-update" / "v2"), "--previous",
                               str(BROKEN / "health-breaks-on-update" / "v1"))
    assert code == 1 and report["passed"] is False
    statuses = _statuses(report)
    assert statuses["update"] == "failed" and statuses["preflight"] == "passed"
    update = next(s for s in report["scenarios"] if s["scenario"] == "update")  # type: ignore[union-attr]
    assert "rolled_back" in update["detail"] and "health" in update["detail"]
    # the injected failures still restore 1.0.0 exactly, and it still executes
    assert statuses["failure@activate"] == statuses["failure@health-check"] == "passed"


@pytest.mark.slow
def test_a_new_version_needing_an_undeclared_permission_fails_execute_and_update() -> None:
    code, report, _ = _harness(str(BROKEN / "undeclared-permission" / "v2"), "--previous",
                               str(BROKEN / "undeclared-permission" / "v1"))
    assert code == 1
    statuses = _statuses(report)
    assert statuses["execute"] == statuses["update"] == "failed"
    assert statuses["install"] == statuses["preflight"] == "passed"
    execute = next(s for s in report["scenarios"] if s["scenario"] == "execute")  # type: ignore[union-attr]
    assert "denied network rates.example.com" in execute["detail"]


@pytest.mark.slow
def test_a_plugin_failing_on_an_api_version_inside_its_range_is_caught_on_that_version(
) -> None:
    code, report, _ = _harness(str(BROKEN / "api-version-break"), "--host", str(LEGACY_HOST))
    assert code == 1
    statuses = _statuses(report)
    assert statuses["api@3.1"] == "passed" and statuses["api@3.2"] == "failed"
    assert "api@4.1" not in statuses, "4.1 is outside the declared 3.0 range"


def test_a_missing_or_broken_golden_file_is_a_structured_error(tmp_path: Path,
                                                                runner: CliRunner) -> None:
    import shutil

    plugin = tmp_path / "json-transform"
    shutil.copytree(EXAMPLES / "plugins" / "json-transform", plugin)
    (plugin / "golden.json").unlink()
    result = runner.invoke(cli, ["harness", str(plugin), "--format", "json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "GOLDEN_MISSING"
    (plugin / "golden.json").write_text('{"cases": []}')
    result = runner.invoke(cli, ["harness", str(plugin), "--format", "json"])
    error = json.loads(result.stdout)["error"]
    assert result.exit_code == 2 and error["code"] == "GOLDEN_INVALID" and "cases" in \
        error["message"]


@pytest.mark.slow
def test_the_release_gate_blocks_publish_until_fixed_or_forced_with_a_reason(
        tmp_path: Path, runner: CliRunner) -> None:
    home, registry = tmp_path / "home", tmp_path / "registry"
    broken = BROKEN / "undeclared-permission" / "v2"
    assert runner.invoke(cli, ["keygen", "--home", str(home)]).exit_code == 0
    gate = runner.invoke(cli, ["release-gate", str(broken), "--home", str(home)])
    assert gate.exit_code == 1
    assert "release gate FAILED for currency-node 1.1.0: execute" in gate.stderr
    refused = runner.invoke(cli, ["publish", str(broken), "--home", str(home), "--registry",
                                  str(registry), "--format", "json"])
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"]["code"] == "RELEASE_GATE_FAILED"
    assert not (registry / "index.json").exists()
    unexplained = runner.invoke(cli, ["publish", str(broken), "--home", str(home),
                                      "--registry", str(registry), "--force"])
    assert unexplained.exit_code == 2 and "REASON_REQUIRED" in unexplained.stderr
    forced = runner.invoke(cli, ["publish", str(broken), "--home", str(home), "--registry",
                                 str(registry), "--force", "--reason", "hotfix, rates API "
                                 "permission follows in 1.1.1"], env={"PLUGINOPS_USER": "ana"})
    assert forced.exit_code == 0, forced.output
    records = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    override = [r for r in records if r.get("kind") == "release_gate.override"]
    assert override and override[0]["plugin"] == "currency-node" and override[0]["by"] == "ana"
    assert override[0]["failed"] == ["execute", "api@4.1"]  # no previous version given
    verified = runner.invoke(cli, ["audit", "verify", "--home", str(home)])
    assert verified.exit_code == 0, verified.output


@pytest.mark.slow
def test_a_passing_gate_lets_publish_through(tmp_path: Path, runner: CliRunner) -> None:
    home = tmp_path / "home"
    plugin = EXAMPLES / "plugins" / "json-transform"
    gate = runner.invoke(cli, ["release-gate", str(plugin), "--home", str(home)])
    assert gate.exit_code == 0, gate.output
    assert json.loads((home / "gates" / "json-transform-1.2.0.json").read_text())["passed"]
    published = runner.invoke(cli, ["publish", str(plugin), "--home", str(home), "--registry",
                                    str(tmp_path / "registry")])
    assert published.exit_code == 0, published.output


@pytest.mark.slow
def test_the_matrix_is_derived_from_declared_ranges_and_proven_by_execution(
        tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "matrix"
    result = runner.invoke(cli, [
        "matrix", str(EXAMPLES / "plugins" / "json-transform"),
        str(EXAMPLES / "plugins" / "json-transform-v2"), str(BROKEN / "api-version-break"),
        "--host", str(LEGACY_HOST), "--host", str(EXAMPLES / "hosts" / "legacy-2.4.json"),
        "--execute", "--out", str(out)])
    assert result.exit_code == 1  # the API break is proven, so the matrix fails
    cells = json.loads((out / "matrix.json").read_text())["cells"]
    by = {(c["plugin"], c["plugin_version"], c["host_version"], c["api_version"]): c
          for c in cells}
    assert by[("json-transform", "1.2.0", "2.8.0", "4.1")]["executed"] == "passed"
    assert by[("json-transform", "2.0.0", "2.6.0", "3.1")]["verdict"] == "host-range"
    assert by[("json-transform", "1.2.0", "2.8.0", "3.2")]["verdict"] == "api"
    assert by[("legacy-format-node", "0.4.0", "2.6.0", "3.1")]["executed"] == "passed"
    assert by[("legacy-format-node", "0.4.0", "2.8.0", "3.2")]["executed"] == "failed"
    csv_lines = (out / "matrix.csv").read_text().splitlines()
    assert csv_lines[0].startswith("plugin,plugin_version,host_version,api_version")
    assert len(csv_lines) == len(cells) + 1
    markdown = (out / "matrix.md").read_text()
    assert "## legacy-format-node 0.4.0 (host ^2.0.0, API 3.0)" in markdown
    assert "**golden FAILED**" in markdown


@pytest.mark.slow
def test_the_pytest_plugin_runs_each_scenario_as_a_test_and_offers_fixtures(
        tmp_path: Path) -> None:
    (tmp_path / "test_mine.py").write_text('''
import pytest
from contracts.errors import PluginopsError


def test_a_failed_verify_changes_nothing_and_the_stub_answers_once_installed(
        golden_world, mock_api, inject_failure):
    outcome, before, after = inject_failure("verify", "http-status-check@1.4.0")
    assert outcome.state == "rolled_back" and outcome.failure.phase == "verify"
    assert before == after and after.active is None
    with pytest.raises(PluginopsError) as nothing:
        golden_world.execute({}, {})
    assert nothing.value.code == "NOT_INSTALLED"
    assert golden_world.installer().install("http-status-check").state == "committed"
    result = golden_world.execute({}, {})
    assert result.outcome == "success" and result.output["degraded"][0]["name"] == "API"
    assert [r["host"] for r in mock_api.requests] == ["status.example.com"]
''')
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
         "--golden", str(EXAMPLES / "plugins" / "http-status-check"), str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"^PASSED \S*test_mine\.py::test_a_failed_verify_changes_nothing",
                     done.stdout, re.M), done.stdout[-3000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "skipped" in summary and "failed" not in summary
    broken = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--golden", str(BROKEN / "api-version-break"), "--golden-host", str(LEGACY_HOST)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert broken.returncode == 1
    assert "golden[legacy-format-node-0.4.0]::api@3.2" in broken.stdout
    assert "KeyError: '3.2'" in broken.stdout


@pytest.mark.slow
def test_the_permission_prompt_is_approved_by_a_second_person_and_denial_changes_nothing(
        tmp_path: Path) -> None:
    """A node plugin that declares the network call and asks for it as an elevated scope: the
    harness refuses the author's own approval, installs after a second person's, executes over
    HTTPS through the allowlist, and leaves nothing behind when the scope is denied."""
    import shutil

    plugin = tmp_path / "currency-node"
    shutil.copytree(BROKEN / "undeclared-permission" / "v2", plugin)
    manifest = json.loads((plugin / "plugin.json").read_text())
    manifest["permissions"] = {"network": ["rates.example.com"]}
    manifest["sandbox"] = {"elevated": [{
        "kind": "network", "target": "rates.example.com",
        "justification": "Fetches live exchange rates from the rates service."}]}
    (plugin / "plugin.json").write_text(json.dumps(manifest))
    code, report, _ = _harness(str(plugin), "--previous",
                               str(BROKEN / "undeclared-permission" / "v1"))
    statuses = _statuses(report)
    assert code == 0, report
    assert statuses["configure"] == statuses["permission-deny"] == "passed"
    assert statuses["execute"] == statuses["update"] == statuses["rollback"] == "passed"


MATRIX_PLUGINS = [*sorted((EXAMPLES / "plugins").iterdir()),
                  *(EXAMPLES / "broken" / name for name in (
                      "host-prerelease", "api-unsupported", "host-range-unsatisfied",
                      "capability-missing"))]
MATRIX_HOSTS = [this_host(), *(load_host(p) for p in sorted((EXAMPLES / "hosts").iterdir()))]
PREFLIGHT_VERDICT = {"HOST_RANGE_UNSATISFIED": "host-range", "API_VERSION_UNSUPPORTED": "api",
                     "CAPABILITY_MISSING": "capability"}


def test_the_matrix_and_preflight_give_the_same_verdict_on_every_cell(
        example_registry: Path) -> None:
    cells = compat.derive(MATRIX_PLUGINS, MATRIX_HOSTS)
    assert {c.verdict for c in cells} == {"compatible", "host-range", "api", "capability"}
    registry = load_registry(example_registry)
    for cell in cells:
        [folder] = [f for f in MATRIX_PLUGINS
                    if json.loads((f / "plugin.json").read_text())["name"] == cell.plugin
                    and json.loads((f / "plugin.json").read_text())["version"]
                    == cell.plugin_version]
        [host] = [h for h in MATRIX_HOSTS if h.version == cell.host_version]
        result = check_path(folder, PreflightContext(compat.cell_host(host, cell.api_version),
                                                     registry))
        codes = [f.code for f in result.findings if f.code in PREFLIGHT_VERDICT]
        expected = PREFLIGHT_VERDICT[codes[0]] if codes else "compatible"
        assert cell.verdict == expected, (cell, codes)


def test_a_prerelease_host_is_judged_by_preflights_policy() -> None:
    prerelease = load_host(EXAMPLES / "hosts" / "prerelease-2.9.json")
    [cell] = [c for c in compat.derive([EXAMPLES / "broken" / "host-prerelease"], [prerelease])
              if c.api_version == "4.1"]
    assert cell.verdict == "compatible"
    assert "is a prerelease; matched its release 2.9.0" in cell.detail


@pytest.mark.slow
def test_matrix_execute_runs_cells_on_the_cells_host_and_never_blames_the_plugin_for_the_runtime(
        tmp_path: Path, runner: CliRunner) -> None:
    future = tmp_path / "future-host.json"
    future.write_text(json.dumps({"version": "2.9.5", "api": ["4.1", "4.7"],
                                  "capabilities": this_host().capabilities}))
    out = tmp_path / "matrix"
    result = runner.invoke(cli, ["matrix", str(EXAMPLES / "plugins" / "json-transform"),
                                 "--host", str(future), "--host",
                                 str(EXAMPLES / "hosts" / "prerelease-2.9.json"), "--execute",
                                 "--out", str(out), "--home", str(tmp_path / "home")])
    assert result.exit_code == 0, result.output
    by = {(c["host_version"], c["api_version"]): c
          for c in json.loads((out / "matrix.json").read_text())["cells"]}
    assert by[("2.9.5", "4.1")]["executed"] == "passed"
    # a release candidate of the host installs and runs what its release would (preflight's
    # prerelease policy, applied by the installer too)
    assert by[("2.9.0-rc.1", "4.1")]["executed"] == "passed", by[("2.9.0-rc.1", "4.1")]
    unservable = by[("2.9.5", "4.7")]
    assert (unservable["verdict"], unservable["executed"]) == ("compatible", "not-executed")
    assert "does not implement plugin API 4.7" in unservable["detail"]
    assert "not executed" in (out / "matrix.md").read_text()


def test_the_worlds_present_the_host_of_the_plan(tmp_path: Path) -> None:
    plan = plan_for(EXAMPLES / "plugins" / "json-transform", [], None, ())
    other = HostDescription(version="2.9.5", api=["4.1"], capabilities=["log"])
    with world(tmp_path / "w", plan.golden, plan.plugin_dir, [], None, (), other) as made:
        assert made.installer().env.host == other


def test_the_preflight_scenario_resolves_dependencies_from_the_registry_it_installs_from(
        tmp_path: Path) -> None:
    """text-stats needs json-transform ^1.0.0: given as a previous-version folder, it is in
    the registry the worlds install from, so preflight must find it there too."""
    plan = plan_for(EXAMPLES / "plugins" / "text-stats", [EXAMPLES / "plugins" / "json-transform"],
                    None, ())
    assert run_one("preflight", True, scenario_preflight, plan).status == "passed"
    alone = plan_for(EXAMPLES / "plugins" / "text-stats", [], None, ())
    failed = run_one("preflight", True, scenario_preflight, alone)
    assert failed.status == "failed" and "DEPENDENCY_NOT_FOUND" in failed.detail


def test_harness_and_matrix_take_home_like_every_command(runner: CliRunner) -> None:
    for command in ("harness", "matrix", "release-gate"):
        assert "--home" in runner.invoke(cli, [command, "--help"]).output
