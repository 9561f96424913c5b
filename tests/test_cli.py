"""The `pluginops` CLI as users see it: output streams, exit codes, errors, the CI gate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from pluginops.cli import cli
from runtime.host import this_host
from tests.builders import a_home_with_policy, a_plugin_dir
from tests.conftest import EXAMPLES, REPO


def test_json_output_is_one_document_on_stdout(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["preflight", str(a_plugin_dir(tmp_path)), "--format", "json",
                                 "--home", str(tmp_path)])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"results": [{
        "manifest": str(tmp_path / "acme-http-1.4.0"), "plugin": "acme-http",
        "version": "1.4.0", "ok": True, "findings": []}]}


def test_a_failing_manifest_exits_1_and_says_where_and_what_next(runner: CliRunner,
                                                                 tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path, host="^3.0.0")
    result = runner.invoke(cli, ["preflight", str(folder), "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert f"FAIL {folder} (acme-http 1.4.0)" in result.stdout
    assert "error HOST_RANGE_UNSATISFIED at /host: requires host ^3.0.0, this host is 2.8.0" \
        in result.stdout
    assert "next step: use a version of acme-http whose host range includes 2.8.0" \
        in result.stdout


def test_host_version_flag_checks_against_another_host(runner: CliRunner, tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path, host="^3.0.0")
    result = runner.invoke(cli, ["preflight", str(folder), "--host-version", "3.1.0",
                                 "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_host_file_describes_another_host(runner: CliRunner, tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path, api="4.1")
    result = runner.invoke(cli, ["preflight", str(folder), "--format", "json",
                                 "--host", str(EXAMPLES / "hosts" / "legacy-2.4.json")])
    codes = [f["code"] for f in json.loads(result.stdout)["results"][0]["findings"]]
    assert result.exit_code == 1 and codes == ["API_VERSION_UNSUPPORTED"]


@pytest.mark.parametrize(("args", "code", "where"), [
    pytest.param(["--host", "missing.json"], "HOST_FILE_INVALID", "missing.json",
                 id="a host file that does not exist"),
    pytest.param(["--host-version", "two"], "HOST_VERSION_INVALID", "--host-version",
                 id="a host version that is not semver"),
    pytest.param(["--registry", "nowhere"], "REGISTRY_NOT_FOUND", "nowhere",
                 id="a registry folder that does not exist"),
])
def test_bad_usage_exits_2_with_a_structured_error(runner: CliRunner, tmp_path: Path,
                                                   args: list[str], code: str,
                                                   where: str) -> None:
    result = runner.invoke(cli, ["preflight", str(a_plugin_dir(tmp_path)), "--format", "json",
                                 "--home", str(tmp_path), *args])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["where"]) == (code, where)
    assert error["next_step"]


def test_a_corrupt_host_file_says_what_to_write(runner: CliRunner, tmp_path: Path) -> None:
    host = tmp_path / "host.json"
    host.write_text('{"version": "2.8.0"}')
    result = runner.invoke(cli, ["preflight", str(a_plugin_dir(tmp_path)), "--host", str(host)])
    assert result.exit_code == 2
    assert f"error[HOST_FILE_INVALID] {host}: not a host description" in result.stderr
    assert 'next step: write {"version": "2.7.1"' in result.stderr
    assert "Traceback" not in result.output


def test_no_manifest_is_bad_usage(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["preflight"])
    assert result.exit_code == 2
    assert "error[USAGE] preflight: no manifest given" in result.stderr


def test_host_prints_this_runtime_and_its_sandbox_layers(runner: CliRunner,
                                                         tmp_path: Path) -> None:
    result = runner.invoke(cli, ["host", "--format", "json", "--home", str(tmp_path)])
    printed = json.loads(result.stdout)
    assert {k: printed[k] for k in ("version", "api", "capabilities")} == \
        this_host().model_dump(exclude={"sandbox"})
    assert printed["sandbox"]["required"] == ["rlimits", "landlock", "seccomp", "audit"]
    assert printed["sandbox"]["layers"]["landlock"]["available"] is True
    assert printed["sandbox"]["ok"] is True


def test_host_output_is_a_valid_host_file(runner: CliRunner, tmp_path: Path) -> None:
    host_file = tmp_path / "host.json"
    host_file.write_text(runner.invoke(cli, ["host", "--format", "json", "--home",
                                             str(tmp_path)]).stdout)
    result = runner.invoke(cli, ["preflight", str(a_plugin_dir(tmp_path)), "--host",
                                 str(host_file), "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_examples_hold_two_plugins_of_each_type() -> None:
    types = Counter(json.loads(p.read_text())["type"]
                    for p in (EXAMPLES / "plugins").glob("*/plugin.json"))
    assert set(types) == {"node", "integration", "agent", "quality_gate"}
    assert min(types.values()) >= 2


def test_publish_then_preflight_resolves_from_the_home_registry(runner: CliRunner,
                                                                tmp_path: Path) -> None:
    # the release gate is advisory here: this test is about resolving from the registry
    home = ["--home", str(a_home_with_policy(tmp_path / "home", release_gate="advisory"))]
    assert runner.invoke(cli, ["keygen", *home]).exit_code == 0
    plugins = sorted(str(p) for p in (EXAMPLES / "plugins").iterdir())
    published = runner.invoke(cli, ["publish", *plugins, "--format", "json", *home])
    assert published.exit_code == 0, published.output
    entries = json.loads(published.stdout)["published"]
    assert len(entries) == len(plugins) and all(e["signed"] for e in entries)
    checked = runner.invoke(cli, ["preflight", str(EXAMPLES / "broken" / "dependency-conflict"),
                                  "--format", "json", *home])
    codes = [f["code"] for f in json.loads(checked.stdout)["results"][0]["findings"]]
    assert codes == ["DEPENDENCY_CONFLICT"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def plugin_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    a_plugin_dir(repo / "plugins", name="good")
    a_plugin_dir(repo / "plugins", name="untouched")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    return repo


def test_changed_checks_only_plugins_changed_since_base(plugin_repo: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        runner: CliRunner) -> None:
    monkeypatch.chdir(plugin_repo)
    manifest = plugin_repo / "plugins" / "good-1.4.0" / "plugin.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "host": "^3.0.0"}))
    a_plugin_dir(plugin_repo / "plugins", name="brand-new")
    result = runner.invoke(cli, ["preflight", "--changed", "HEAD", "--format", "json"])
    assert result.exit_code == 1
    results = {r["plugin"]: r for r in json.loads(result.stdout)["results"]}
    assert set(results) == {"good", "brand-new"}
    assert [(f["code"], f["field"]) for f in results["good"]["findings"]] == [
        ("HOST_RANGE_UNSATISFIED", "/host")]
    assert results["good"]["manifest"] == "plugins/good-1.4.0/plugin.json"


def test_changed_with_nothing_changed_passes(plugin_repo: Path, monkeypatch: pytest.MonkeyPatch,
                                             runner: CliRunner) -> None:
    monkeypatch.chdir(plugin_repo)
    result = runner.invoke(cli, ["preflight", "--changed"])
    assert result.exit_code == 0
    assert "0 plugin manifest(s) changed since HEAD" in result.stderr


def test_changed_with_an_unknown_base_is_bad_usage(plugin_repo: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   runner: CliRunner) -> None:
    monkeypatch.chdir(plugin_repo)
    result = runner.invoke(cli, ["preflight", "--changed", "no-such-rev"])
    assert result.exit_code == 2
    assert "error[GIT_BASE_INVALID] --changed:" in result.stderr


@pytest.mark.slow
def test_the_installed_command_runs_as_a_subprocess(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "pluginops"
    done = subprocess.run([str(exe), "preflight", str(EXAMPLES / "broken" / "invalid-version"),
                           "--format", "json", "--home", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert json.loads(done.stdout)["results"][0]["findings"][0]["code"] == "VERSION_INVALID"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is installed by `make test`")
def test_npm_run_plugin_preflight_forwards_the_manifest() -> None:
    done = subprocess.run(["npm", "run", "--silent", "plugin:preflight", "--",
                           "examples/broken/invalid-api/plugin.json", "--format", "json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    finding = json.loads(done.stdout)["results"][0]["findings"][0]
    assert (finding["code"], finding["field"]) == ("API_VERSION_INVALID", "/api")
