"""A publish needs a passing release gate, made on this host, for exactly the bytes published.

Gate records are made here with `gate.record` (what `pluginops release-gate` calls after the
harness) so each path is quick; tests/test_harness.py runs the real harness into the gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from contracts.layout import Layout
from pluginops.cli import cli
from runtime.harness import gate
from runtime.harness.run import digest_of
from tests.builders import a_home_with_policy
from tests.conftest import EXAMPLES


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    copy = tmp_path / "json-transform"
    shutil.copytree(EXAMPLES / "plugins" / "json-transform", copy)
    return copy


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def a_gate_report(plugin: Path, passed: bool = True) -> dict[str, Any]:
    manifest = json.loads((plugin / "plugin.json").read_text())
    return {"plugin": manifest["name"], "version": manifest["version"],
            "sha256": digest_of(plugin), "passed": passed,
            "failed": [] if passed else ["execute"], "scenarios": [], "finished_at": 0.0}


def publish(runner: CliRunner, home: Path, *args: str) -> Any:
    return runner.invoke(cli, ["publish", *args, "--home", str(home), "--registry",
                               str(home / "registry"), "--format", "json"])


def audit_records(home: Path) -> list[dict[str, Any]]:
    path = home / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def refusal(result: Any) -> dict[str, Any]:
    assert result.exit_code == 1, result.output
    error: dict[str, Any] = json.loads(result.stdout)["error"]
    return error


def test_a_plugin_never_gated_is_refused_and_nothing_is_written(
        runner: CliRunner, home: Path, plugin: Path) -> None:
    error = refusal(publish(runner, home, str(plugin)))
    assert error["code"] == "RELEASE_GATE_MISSING"
    assert error["message"] == "json-transform 1.2.0 has no release gate"
    assert "pluginops release-gate" in error["next_step"]
    assert not (home / "registry").exists()
    assert audit_records(home) == []


def test_a_passing_gate_for_these_bytes_publishes(runner: CliRunner, home: Path,
                                                  plugin: Path) -> None:
    gate.record(home, a_gate_report(plugin))
    result = publish(runner, home, str(plugin))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["published"][0]["plugin"] == "json-transform"
    assert audit_records(home) == []  # nothing to explain


def test_one_changed_comment_byte_since_the_gate_is_refused(runner: CliRunner, home: Path,
                                                           plugin: Path) -> None:
    gate.record(home, a_gate_report(plugin))
    source = plugin / "transform.py"
    source.write_text(source.read_text() + "# one more comment\n")
    error = refusal(publish(runner, home, str(plugin)))
    assert error["code"] == "RELEASE_GATE_MISSING"
    assert error["message"].startswith("json-transform 1.2.0 changed since its gate")
    assert not (home / "registry").exists()


def test_a_failed_gate_is_refused_with_the_failed_scenarios(runner: CliRunner, home: Path,
                                                            plugin: Path) -> None:
    gate.record(home, a_gate_report(plugin, passed=False))
    error = refusal(publish(runner, home, str(plugin)))
    assert error["code"] == "RELEASE_GATE_FAILED"
    assert error["message"] == "json-transform 1.2.0 failed its release gate: execute"
    assert error["next_step"].startswith("fix the failing scenarios")


@pytest.mark.parametrize("forge", [
    pytest.param("unsigned", id="a hand-written record without a signature"),
    pytest.param("edited", id="a failed record edited to say passed"),
    pytest.param("other host", id="a record signed by another host's key"),
])
def test_a_record_this_host_did_not_sign_is_refused(runner: CliRunner, home: Path,
                                                    plugin: Path, tmp_path: Path,
                                                    forge: str) -> None:
    path = gate.gate_path(home, "json-transform", "1.2.0")
    if forge == "unsigned":
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(a_gate_report(plugin)))
    elif forge == "edited":
        gate.record(home, a_gate_report(plugin, passed=False))
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "passed": True, "failed": []}))
    else:
        gate.record(home, a_gate_report(plugin))  # this home has a key of its own
        elsewhere = tmp_path / "elsewhere"
        shutil.copy(gate.record(elsewhere, a_gate_report(plugin)), path)
    error = refusal(publish(runner, home, str(plugin)))
    assert error["code"] == "RELEASE_GATE_UNTRUSTED"
    assert not (home / "registry").exists()


def test_the_gate_key_is_readable_by_its_owner_only(home: Path, plugin: Path) -> None:
    gate.record(home, a_gate_report(plugin))
    assert Layout(home).gate_key.stat().st_mode & 0o777 == 0o600


def test_an_override_needs_a_reason_and_is_audited(runner: CliRunner, home: Path,
                                                   plugin: Path) -> None:
    unexplained = runner.invoke(cli, ["publish", str(plugin), "--home", str(home), "--force"])
    assert unexplained.exit_code == 2 and "REASON_REQUIRED" in unexplained.stderr
    assert not (home / "registry").exists()
    forced = publish(runner, home, str(plugin), "--force", "--reason", "security hotfix")
    assert forced.exit_code == 0, forced.output
    [record] = audit_records(home)
    assert (record["kind"], record["problem"], record["reason"]) == (
        "release_gate.override", "RELEASE_GATE_MISSING", "security hotfix")
    assert record["sha256"] == json.loads(forced.stdout)["published"][0]["sha256"]


def test_an_advisory_policy_publishes_with_a_warning_and_an_audit_record(
        runner: CliRunner, home: Path, plugin: Path) -> None:
    a_home_with_policy(home, release_gate="advisory")
    result = publish(runner, home, str(plugin))
    assert result.exit_code == 0, result.output
    assert "published without a passing release gate" in result.stderr
    [record] = audit_records(home)
    assert (record["kind"], record["problem"]) == ("release_gate.advisory",
                                                   "RELEASE_GATE_MISSING")


def test_one_ungated_plugin_among_several_publishes_none(runner: CliRunner, home: Path,
                                                         plugin: Path, tmp_path: Path) -> None:
    other = tmp_path / "coverage-gate"
    shutil.copytree(EXAMPLES / "plugins" / "coverage-gate", other)
    gate.record(home, a_gate_report(plugin))
    error = refusal(publish(runner, home, str(plugin), str(other)))
    assert error["code"] == "RELEASE_GATE_MISSING" and "coverage-gate" in error["message"]
    assert not (home / "registry").exists()


@pytest.mark.parametrize(("stored", "trusted", "problem"), [
    pytest.param(None, False, "missing", id="no record: missing"),
    pytest.param({"sha256": "a", "passed": True}, False, "untrusted",
                 id="a record that does not verify: untrusted, whatever it says"),
    pytest.param({"sha256": "b", "passed": True}, True, "changed",
                 id="a verified record for other bytes: changed"),
    pytest.param({"sha256": "a", "passed": False, "failed": ["install"]}, True, "failed",
                 id="a verified failed record: failed"),
    pytest.param({"sha256": "a", "passed": True}, True, None,
                 id="a verified passing record for these bytes: ok"),
])
def test_the_verdict(stored: dict[str, Any] | None, trusted: bool, problem: str | None) -> None:
    assert gate.judge(stored, trusted, "p", "1.0.0", "a").problem == problem
