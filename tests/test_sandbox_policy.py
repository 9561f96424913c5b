"""Grants, org policy, four-eyes approvals and the audit chain: what a plugin may do, who let it,
and proof that the record was not altered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from contracts.catalogue import INSTALL_TRANSACTIONS, ROLLBACKS
from contracts.errors import OperationFailed, PluginopsError
from pluginops.cli import cli
from runtime.manifest.model import Manifest
from runtime.sandbox.approvals import Approvals, Request
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.grants import effective_grants
from runtime.sandbox.policy import OrgPolicy, load_policy
from runtime.telemetry.journal_metrics import JournalMetrics
from tests.builders import a_manifest
from tests.install_support import an_installer, assert_stable, publish_plugin

ELEVATED = {"permissions": {"network": ["api.example.com"]},
            "sandbox": {"elevated": [{"kind": "network", "target": "api.example.com",
                                      "justification": "Looks records up in the register."}]}}


def grants(approved: set[str] = frozenset(), policy: OrgPolicy | None = None,
           **manifest: Any) -> Any:
    return effective_grants(Manifest.model_validate(a_manifest(**manifest)), set(approved),
                            policy or OrgPolicy())


def test_a_node_plugin_gets_no_network_until_approved() -> None:
    assert grants(**ELEVATED).network == ()
    assert grants({"network:api.example.com"}, **ELEVATED).network == ("api.example.com",)


def test_an_agent_budget_above_the_cap_is_capped_until_approved() -> None:
    wanted = {"type": "agent", "permissions": {"budget": {"tokens_per_execution": 20_000}}}
    assert grants(**wanted).budget["tokens_per_execution"] == 8000
    assert grants({"budget:tokens_per_execution"}, **wanted).budget[
        "tokens_per_execution"] == 20_000


def test_policy_tightens_limits_and_budgets_but_never_loosens() -> None:
    policy = OrgPolicy.model_validate({"types": {"agent": {
        "limits": {"memory_mb": 128, "wall_seconds": 999},
        "budget": {"tokens_per_execution": 1000}}}})
    tight = grants(policy=policy, type="agent")
    assert tight.limits.memory_mb == 128
    assert tight.limits.wall_seconds == 120, "a looser number than the profile is ignored"
    assert tight.budget["tokens_per_execution"] == 1000


def test_wildcard_domains_match_subdomains_only() -> None:
    g = grants(type="integration", permissions={"network": ["*.example.com"]})
    assert g.may_reach("api.example.com") and not g.may_reach("example.com")
    assert not g.may_reach("api.example.com.evil.net")


@pytest.mark.parametrize(("rules", "decision"), [
    pytest.param({"forbid": ["network:*"]}, "forbidden", id="forbid by pattern"),
    pytest.param({"auto_approve": ["network:api.example.com"]}, "auto_approved",
                 id="auto-approve one domain"),
    pytest.param({"forbid": ["network:*"], "auto_approve": ["network:*"]}, "forbidden",
                 id="forbid wins over auto-approve"),
    pytest.param({}, "needs_approval", id="no rule means a person decides"),
])
def test_policy_decisions(rules: dict[str, Any], decision: str) -> None:
    policy = OrgPolicy.model_validate({"plugins": {"acme-http": rules}})
    assert policy.decision("acme-http", "node", "network:api.example.com") == decision


def test_an_unknown_policy_version_lists_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("version: 3\n")
    with pytest.raises(PluginopsError) as err:
        load_policy(tmp_path)
    assert (err.value.code, err.value.next_step) == ("POLICY_VERSION_UNSUPPORTED",
                                                     "use version: 1")


def test_a_policy_with_a_typo_is_refused_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("version: 1\ntypes:\n  agent:\n    forbidd: []\n")
    with pytest.raises(PluginopsError) as err:
        load_policy(tmp_path)
    assert err.value.code == "POLICY_INVALID" and "types/agent/forbidd" in err.value.message


def test_the_requester_cannot_approve_their_own_request(tmp_path: Path) -> None:
    store = Approvals(tmp_path / "a.db")
    store.request(Request("acme-http", "network:api.example.com", "1.0.0", "alice",
                          "needed", 0.0, "tx"))
    with pytest.raises(OperationFailed) as err:
        store.decide("acme-http", "network:api.example.com", "approved", "alice", "ok", 1.0)
    assert err.value.code == "FOUR_EYES"
    store.decide("acme-http", "network:api.example.com", "approved", "bob", "ok", 1.0,
                 expires_at=100.0)
    assert store.approved("acme-http", 50.0) == {"network:api.example.com"}
    assert store.approved("acme-http", 100.0) == set(), "an approval expires"


def test_decisions_are_append_only(tmp_path: Path) -> None:
    store = Approvals(tmp_path / "a.db")
    store.request(Request("p", "tool:x", "1.0.0", "alice", "j", 0.0, "tx"))
    store.decide("p", "tool:x", "approved", "bob", "ok", 1.0)
    with pytest.raises(Exception, match="append-only"):
        store.db.execute("UPDATE approval_decisions SET decided_by = 'alice'")


def test_elevated_install_waits_for_a_second_person_then_activates(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "lookup", "1.0.0",
                   "def run(inputs, ctx):\n    return {}\n", **ELEVATED)
    alice = an_installer(home, writable_registry, signing_key,
                         approvals=Approvals(home / "approvals.db"), requested_by="alice")
    waiting = alice.install("lookup")
    assert waiting.state == "awaiting_approval"
    assert waiting.message == ("lookup 1.0.0 awaits approval of network:api.example.com; "
                               "nothing was activated")
    assert waiting.failure is not None and "other than alice" in waiting.failure.next_step
    assert_stable(home, "lookup", None)
    # waiting for a second person is not a rollback: no PluginInstallRollbacks ticket for it
    registry = CollectorRegistry()
    registry.register(JournalMetrics(home / "journal.db"))
    assert [s for family in registry.collect() for s in family.samples
            if s.name == ROLLBACKS.name and s.labels["plugin"] == "lookup"] == []
    assert registry.get_sample_value(INSTALL_TRANSACTIONS.name, {
        "plugin": "lookup", "operation": "install", "outcome": "awaiting_approval"}) == 1
    store = Approvals(home / "approvals.db")
    with pytest.raises(OperationFailed):
        store.decide("lookup", "network:api.example.com", "approved", "alice", "mine", 1.0)
    store.decide("lookup", "network:api.example.com", "approved", "bob", "register is public",
                 1.0)
    assert alice.install("lookup").state == "committed"
    assert_stable(home, "lookup", "1.0.0")


def test_an_update_asking_for_more_waits_again(tmp_path: Path, writable_registry: Path,
                                               signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "lookup", "1.0.0",
                   "def run(inputs, ctx):\n    return {}\n", **ELEVATED)
    more = json.loads(json.dumps(ELEVATED))
    more["permissions"]["network"].append("b.example.com")
    more["sandbox"]["elevated"].append({"kind": "network", "target": "b.example.com",
                                        "justification": "And the second register too."})
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "lookup", "1.1.0",
                   "def run(inputs, ctx):\n    return {}\n", **more)
    store = Approvals(home / "approvals.db")
    installer = an_installer(home, writable_registry, signing_key, approvals=store,
                             requested_by="alice")
    installer.install("lookup@1.0.0")
    store.decide("lookup", "network:api.example.com", "approved", "bob", "ok", 1.0)
    assert installer.install("lookup@1.0.0").state == "committed"
    update = installer.update("lookup")
    assert update.state == "awaiting_approval"
    assert "network:b.example.com" in update.message
    assert "network:api.example.com" not in update.message
    assert_stable(home, "lookup", "1.0.0")


def test_policy_can_forbid_or_auto_approve_at_install(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "lookup", "1.0.0",
                   "def run(inputs, ctx):\n    return {}\n", **ELEVATED)
    forbid = OrgPolicy.model_validate({"types": {"node": {"forbid": ["network:*"]}}})
    refused = an_installer(tmp_path / "a", writable_registry, signing_key,
                           approvals=Approvals(tmp_path / "a.db"), policy=forbid).install(
        "lookup")
    assert refused.failure is not None and refused.failure.code == "ELEVATION_FORBIDDEN"
    auto = OrgPolicy.model_validate({"plugins": {"lookup": {
        "auto_approve": ["network:api.example.com"]}}})
    store = Approvals(tmp_path / "b.db")
    done = an_installer(tmp_path / "b", writable_registry, signing_key, approvals=store,
                        policy=auto).install("lookup")
    assert done.state == "committed"
    assert [(d.decided_by, d.scope) for d in store.decisions("lookup")] == [
        ("policy", "network:api.example.com")]


def test_audit_verify_finds_an_altered_or_removed_record(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    for n in range(3):
        log.append({"kind": "denial", "plugin": f"p{n}"})
    assert log.verify().ok and log.verify().records == 3
    lines = (tmp_path / "audit.log").read_text().splitlines()
    altered = json.loads(lines[1])
    altered["plugin"] = "innocent"
    (tmp_path / "audit.log").write_text("\n".join([lines[0], json.dumps(altered), lines[2]]))
    assert (log.verify().ok, log.verify().line) == (False, 2)
    (tmp_path / "audit.log").write_text("\n".join([lines[0], lines[2]]) + "\n")
    assert (log.verify().ok, log.verify().line) == (False, 2)


def test_cli_approve_deny_and_audit_verify(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Approvals(home / "approvals.db")
    store.request(Request("lookup", "network:api.example.com", "1.0.0", "alice",
                          "Looks records up.", 0.0, "tx"))
    runner = CliRunner()
    refused = runner.invoke(cli, ["approve", "lookup", "--scope", "network:api.example.com",
                                  "--reason", "fine", "--as", "alice", "--home", str(home)])
    assert refused.exit_code == 1 and "error[FOUR_EYES]" in refused.stderr
    approved = runner.invoke(cli, ["approve", "lookup", "--scope", "network:api.example.com",
                                   "--reason", "public register", "--as", "bob",
                                   "--expires", "30d", "--home", str(home)])
    assert approved.exit_code == 0, approved.output
    assert approved.stdout.startswith("approved lookup network:api.example.com by bob until ")
    listed = runner.invoke(cli, ["approvals", "--format", "json", "--home", str(home)])
    (row,) = json.loads(listed.stdout)["requests"]
    assert (row["state"], row["decision"]["decided_by"]) == ("approved", "bob")
    verified = runner.invoke(cli, ["audit", "verify", "--home", str(home)])
    assert verified.stdout == "audit log intact: 1 records\n"
    (home / "audit.log").write_text((home / "audit.log").read_text().replace("bob", "eve"))
    broken = runner.invoke(cli, ["audit", "verify", "--home", str(home)])
    assert broken.exit_code == 1 and "BROKEN at line 1" in broken.stdout


def test_policy_check_cli(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump({"version": 1, "allow_unsigned": True}))
    result = CliRunner().invoke(cli, ["policy", "check", "--format", "json", "--home",
                                      str(tmp_path)])
    assert json.loads(result.stdout)["allow_unsigned"] is True
