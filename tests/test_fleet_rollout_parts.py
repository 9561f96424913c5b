"""The fleet rollout's parts, without a fleet: the hosts file (bad ones refused with where and
what to do, tokens never read from the file), the waves, the gate's statistics (a version
within budget fails a gate at most alpha of the time however often the gate looks; a version
failing a quarter of its executions fails within tens of them), and the UI's rollouts page."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.layout import Layout
from fleet.gate import GateSettings, allowed_ratio, judge
from fleet.hosts import load_hosts
from fleet.waves import plan_waves
from pluginops.cli import cli
from runtime.auth.tokens import TokenStore
from runtime.rollouts import Rollouts
from tests import test_ui
from tests.test_ui import sign_in

site = test_ui.site  # the UI's test app over a home (a fixture)


def test_hosts_come_from_a_hosts_file_with_tokens_from_the_environment_or_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_A", "po_a")
    (tmp_path / "b.token").write_text("po_b\n")
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(f"""hosts:
  - {{name: a, url: "https://10.0.0.11:8443/", token_env: TOKEN_A, ca_file: ca.pem}}
  - {{name: b, url: "http://10.0.0.12:8080", token_file: {tmp_path / "b.token"}}}
""")
    a, b = load_hosts(hosts)
    assert (a.name, a.url, a.token, a.ca_file) == ("a", "https://10.0.0.11:8443", "po_a",
                                                   "ca.pem")
    assert (b.name, b.url, b.token) == ("b", "http://10.0.0.12:8080", "po_b")
    assert "po_a" not in repr(a)


def test_hosts_come_from_a_discovery_file_with_one_token(tmp_path: Path) -> None:
    found = tmp_path / "runtimes.yml"
    found.write_text('- targets: ["10.0.0.11:8080"]\n  labels: {host: a}\n')
    (a,) = load_hosts(found, token="po_x")
    assert (a.name, a.url, a.token) == ("a", "http://10.0.0.11:8080", "po_x")


@pytest.mark.parametrize(("text", "where"), [
    ("hosts: [{name: a, url: http://x, token: po_plain}]", "hosts[0]"),
    ("hosts: [{name: a, url: ftp://x, token_env: HOME}]", "hosts[0].url"),
    ("hosts: [{name: a, url: http://x, token_env: NOT_SET_ANYWHERE}]", "hosts[0].token_env"),
    ("hosts: [{url: http://x}]", "hosts[0]"),
    ("hosts: []", "hosts.yml"),
    ("- targets: [a:1]\n  labels: {host: a}", "hosts.yml[0]"),  # no --token
    ("{{{", "hosts.yml"),
    ("hosts: [{name: a, url: http://x, token_env: HOME}, {name: a, url: http://y, "
     "token_env: HOME}]", "hosts.yml"),
])
def test_a_bad_hosts_file_is_refused_with_where_and_what_to_do(
        tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(text)
    with pytest.raises(PluginopsError) as refused:
        load_hosts(path)
    assert refused.value.code == Code.FLEET_HOSTS_INVALID
    assert refused.value.where.endswith(where) and refused.value.next_step


def test_a_rollout_needs_an_exact_version_and_a_readable_hosts_file(tmp_path: Path) -> None:
    runner = CliRunner()
    loose = runner.invoke(cli, ["fleet", "rollout", "json-transform@^2", "--hosts", "x.yml",
                                "--store", "http://127.0.0.1:9", "--home", str(tmp_path)])
    assert loose.exit_code == 2 and "error[VERSION_INVALID]" in loose.stderr
    missing = runner.invoke(cli, ["fleet", "rollout", "json-transform@2.0.0", "--hosts",
                                  str(tmp_path / "none.yml"), "--store", "http://127.0.0.1:9",
                                  "--home", str(tmp_path)])
    assert missing.exit_code == 2 and "error[FLEET_HOSTS_INVALID]" in missing.stderr
    assert not (tmp_path / "rollouts.db").exists()  # nothing recorded for a refused rollout


def test_waves_are_one_canary_then_a_share_then_the_rest() -> None:
    assert plan_waves(["a", "b", "c"]) == [["a"], ["b"], ["c"]]
    assert plan_waves(list("abcdefghij")) == [["a"], list("bcdef"), list("ghij")]
    assert plan_waves(["a"]) == [["a"]]
    assert plan_waves(list("abcd"), canary=2, share=1.0) == [["a", "b"], ["c", "d"]]


def test_the_allowed_ratio_is_the_plugins_objective_times_the_burn() -> None:
    from alerts.generated_files import SLO_DIR
    from alerts.spec import load_slos

    slos = load_slos(SLO_DIR)
    assert allowed_ratio(slos, "json-transform", "node", 1.0) == pytest.approx(0.001)
    assert allowed_ratio(slos, "json-transform", "node", 10.0) == pytest.approx(0.01)


def watch(failure_ratio: float, allowed: float, seed: int, executions: int = 3000,
          every: int = 25) -> int | None:
    """A gate looking every `every` executions; the execution it fails at, or None."""
    rng = random.Random(seed)
    failures = 0
    for n in range(1, executions + 1):
        failures += rng.random() < failure_ratio
        if n % every == 0 and judge(n, failures, allowed, GateSettings())[0]:
            return n
    return None


def test_a_version_within_budget_rarely_fails_a_gate_that_looks_often() -> None:
    failed = [watch(0.001, 0.001, seed) for seed in range(200)]
    assert sum(f is not None for f in failed) <= 4  # alpha 1%: 2 expected of 200


def test_a_failing_version_fails_the_gate_within_tens_of_executions() -> None:
    for seed in range(20):
        at = watch(0.25, 0.001, seed)
        assert at is not None and at <= 50, (seed, at)
    assert all(watch(0.02, 0.001, seed) is not None for seed in range(20))  # 20x the budget


def test_the_ui_shows_each_rollout_wave_by_wave_with_its_gates(
        tmp_path: Path, site: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, home = site
    sign_in(client, tokens, "vera", "viewer")
    assert 'id="no-rollouts"' in client.get("/ui/rollouts").get_data(as_text=True)

    record = Rollouts(Layout(home).rollouts_db)
    rollout = record.create("json-transform", "2.0.0", [["a"], ["b", "c"]], {})
    record.step(rollout.id, "a", "updated", previous="1.2.0")
    record.start_gate(rollout.id, 0)
    record.end_gate(rollout.id, 0, "failed", {"summary": "error ratio 25.0% over 40 "
                                                         "executions against 0.10% allowed"})
    record.step(rollout.id, "a", "rolled_back")
    record.finish(rollout.id, "rolled_back", {"code": Code.FLEET_GATE_FAILED,
                                              "message": "wave 1 (a): error ratio 25.0%"})
    record.close()

    page = re.sub(r"<[^>]+>", "", client.get("/ui/rollouts").get_data(as_text=True))
    assert f"Rollout {rollout.id}" in page
    assert "json-transform 2.0.0: rolled back" in page
    assert f"{Code.FLEET_GATE_FAILED} wave 1 (a): error ratio 25.0%" in page
    assert "a: rolled back (was 1.2.0)" in page and "b: pending, c: pending" in page
    assert "failed: error ratio 25.0% over 40 executions against 0.10% allowed" in page
    assert "not reached" in page  # the second wave's gate
