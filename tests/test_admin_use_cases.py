"""Deciding an approval and revising the policy are use cases with one implementation each
(`runtime/admin/`), tried once here against the use case, then once per door (the command line,
the JSON API, the web UI) for what the door translates: the expiry's spelling, the errors."""

from __future__ import annotations

import math
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from contracts.errors import PluginopsError
from pluginops.cli import cli
from runtime.admin import approving, policy_editing
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from runtime.install.service import Installer
from runtime.sandbox.approvals import Approvals, Request
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.policy import load_policy, parse_policy
from tests.install_support import an_env

NOW = 1_800_000_000.0
SCOPE = "network:api.example.com"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    approvals = Approvals(home / "approvals.db")
    approvals.request(Request("lookup", SCOPE, "1.0.0", "olga", "Calls the lookup API.",
                              NOW - 60, "tx-1"))
    approvals.close()
    return home


def audit_records(home: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in AuditLog(home / "audit.log").records() if r["kind"] == kind]


# --- the use cases ------------------------------------------------------------------------

def test_a_decision_is_recorded_and_audited_with_who_how_and_until_when(home: Path) -> None:
    approvals = Approvals(home / "approvals.db")
    made = approving.decide(approvals, AuditLog(home / "audit.log"), "lookup", SCOPE,
                            "approved", approving.Decider("ann", "admin", "api"),
                            "The API is ours.", NOW, NOW + 3600)
    assert approvals.approved("lookup", NOW + 10) == {SCOPE}
    assert approvals.approved("lookup", NOW + 3601) == set()
    [record] = audit_records(home, "approval.approved")
    assert {k: record[k] for k in ("plugin", "scope", "by", "role", "door", "reason",
                                   "expires_at")} == {
        "plugin": "lookup", "scope": SCOPE, "by": "ann", "role": "admin", "door": "api",
        "reason": "The API is ours.", "expires_at": NOW + 3600}
    assert made.decided_by == "ann"


@pytest.mark.parametrize(("decision", "scope", "code"), [
    ("maybe", SCOPE, "DECISION_INVALID"),
    (None, SCOPE, "DECISION_INVALID"),
    ("approved", 42, "SCOPE_INVALID"),
    ("approved", "no-colon", "SCOPE_INVALID"),
])
def test_a_malformed_decision_is_refused_and_nothing_is_recorded(
        home: Path, decision: Any, scope: Any, code: str) -> None:
    approvals = Approvals(home / "approvals.db")
    with pytest.raises(PluginopsError) as refused:
        approving.decide(approvals, AuditLog(home / "audit.log"), "lookup", scope, decision,
                         approving.Decider("ann", "admin", "cli"), "why", NOW, None)
    assert refused.value.code == code and refused.value.next_step
    assert approvals.decisions() == [] and audit_records(home, "approval.approved") == []


@pytest.mark.parametrize("seconds", [0, -5, True, "3600", math.nan, math.inf, [1]])
def test_an_expiry_is_a_positive_finite_number_of_seconds(seconds: Any) -> None:
    with pytest.raises(PluginopsError) as refused:
        approving.expiry_after(seconds, NOW, "expires_in_s")
    assert refused.value.code == "EXPIRY_INVALID"


@pytest.mark.parametrize(("text", "expected"), [
    ("90m", NOW + 5400), ("12h", NOW + 43200), ("30d", NOW + 30 * 86400), ("", None),
    (None, None), ("2027-02-01T00:00:00Z", 1_801_440_000.0),
])
def test_an_expiry_spelled_for_people(text: str | None, expected: float | None) -> None:
    assert approving.expiry_from_text(text, NOW, "--expires") == expected


@pytest.mark.parametrize("text", ["soon", "2020-01-01T00:00:00Z", "2027-02-01T00:00:00", "0h"])
def test_an_expiry_in_the_past_without_an_offset_or_unreadable_is_refused(text: str) -> None:
    with pytest.raises(PluginopsError) as refused:
        approving.expiry_from_text(text, NOW, "--expires")
    assert refused.value.code == "EXPIRY_INVALID"


def test_concurrent_policy_editors_get_distinct_revisions_and_the_last_one_wins(
        home: Path) -> None:
    audit = AuditLog(home / "audit.log")
    numbers: list[int] = []
    start = threading.Barrier(8)

    def edit(i: int) -> None:
        start.wait()
        text = f"version: 1\nplugins:\n  p{i}:\n    forbid: ['network:*']\n"
        numbers.append(policy_editing.revise(home, text, f"admin{i}", "tighten", audit,
                                             "admin", "ui").number)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(1, 9))
    kept = policy_editing.revisions(home)
    assert [r.number for r in kept] == list(range(8, 0, -1))
    assert (home / "policy.yaml").read_text() == kept[0].text  # the newest is the policy
    assert sorted(r["revision"] for r in audit_records(home, "policy.edit")) == numbers and \
        len(set(numbers)) == 8


@pytest.mark.parametrize(("text", "code"), [
    ("", "POLICY_VERSION_UNSUPPORTED"),
    ("- a list\n", "POLICY_VERSION_UNSUPPORTED"),
    ("version: 2\n", "POLICY_VERSION_UNSUPPORTED"),
    ("version: 1\nbogus: true\n", "POLICY_INVALID"),
    ("version: 1\n" + "a: " * 2000 + "x\n", "POLICY_INVALID"),
    ("version: 1\nplugins: " + "[" * 5000 + "]" * 5000 + "\n", "POLICY_INVALID"),
])
def test_the_editor_and_the_runtime_judge_a_policy_document_alike(
        home: Path, text: str, code: str) -> None:
    with pytest.raises(PluginopsError) as edited:
        policy_editing.revise(home, text, "ann", "why", None)
    (home / "policy.yaml").write_text(text)
    with pytest.raises(PluginopsError) as loaded:
        load_policy(home)
    with pytest.raises(PluginopsError) as parsed:
        parse_policy(text, "policy")
    assert edited.value.code == loaded.value.code == parsed.value.code == code
    assert policy_editing.revisions(home) == []


# --- the doors ----------------------------------------------------------------------------

@pytest.fixture
def app(home: Path, writable_registry: Path,
        signing_key: Ed25519PrivateKey) -> tuple[Flask, TokenStore]:
    tokens = TokenStore(home)

    def installer(inject_failure: str | None = None, requested_by: str | None = None
                  ) -> Installer:
        return Installer(an_env(home, writable_registry, signing_key))

    app = create_app(ApiConfig(installer=installer, tokens=tokens,
                               audit=AuditLog(home / "audit.log"),
                               approvals=Approvals(home / "approvals.db"), ui_home=home,
                               session_secret=b"s" * 32))
    return app, tokens


def test_the_api_takes_expires_in_s_as_a_number(home: Path,
                                                app: tuple[Flask, TokenStore]) -> None:
    flask_app, tokens = app
    token, _ = tokens.create("ann", "admin", "tests")
    client = flask_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    refused = client.post("/v1/approvals/lookup", headers=headers, json={
        "scope": SCOPE, "decision": "approved", "reason": "ok", "expires_in_s": "3600"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "EXPIRY_INVALID"
    before = time.time()
    made = client.post("/v1/approvals/lookup", headers=headers, json={
        "scope": SCOPE, "decision": "approved", "reason": "ok", "expires_in_s": 3600})
    assert made.status_code == 201, made.get_json()
    assert before + 3600 <= made.get_json()["decision"]["expires_at"] <= time.time() + 3600
    [record] = audit_records(home, "approval.approved")
    assert (record["door"], record["role"], record["by"]) == ("api", "admin", "ann")


def sign_in(client: Any, tokens: TokenStore, user: str, role: str) -> str:
    token, _ = tokens.create(user, role, "tests")
    assert client.post("/ui/login", data={"token": token}).status_code == 302
    match = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/").get_data(as_text=True))
    assert match
    return match.group(1)


def test_the_ui_turns_days_into_an_expiry_and_refuses_words(
        home: Path, app: tuple[Flask, TokenStore]) -> None:
    flask_app, tokens = app
    client = flask_app.test_client()
    csrf = sign_in(client, tokens, "ann", "admin")
    form = {"csrf": csrf, "scope": SCOPE, "decision": "approved", "reason": "ok"}
    refused = client.post("/ui/approvals/lookup", data={**form, "expires_days": "abc"})
    assert refused.status_code == 400
    assert "is not a number of days" in refused.get_data(as_text=True)
    assert Approvals(home / "approvals.db").decisions() == []
    done = client.post("/ui/approvals/lookup", data={**form, "expires_days": "2"})
    assert done.status_code == 302
    [decision] = Approvals(home / "approvals.db").decisions()
    assert decision.expires_at is not None
    assert decision.expires_at - decision.decided_at == pytest.approx(2 * 86400)
    [record] = audit_records(home, "approval.approved")
    assert (record["door"], record["role"]) == ("ui", "admin")


def test_the_ui_policy_editor_revises_through_the_use_case(
        home: Path, app: tuple[Flask, TokenStore]) -> None:
    flask_app, tokens = app
    client = flask_app.test_client()
    csrf = sign_in(client, tokens, "ann", "admin")
    nested = "version: 1\nplugins: " + "[" * 5000 + "]" * 5000 + "\n"
    assert client.post("/ui/policy", data={"csrf": csrf, "policy": nested,
                                           "reason": "x"}).status_code == 400
    assert client.post("/ui/policy", data={"csrf": csrf, "policy": "version: 1\n",
                                           "reason": "reset"}).status_code == 302
    assert [r.number for r in policy_editing.revisions(home)] == [1]
    assert "revision 1 by ann" in client.get("/ui/policy").get_data(as_text=True)


def test_the_command_line_spells_expiries_for_people(home: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["approve", "lookup", "--scope", SCOPE, "--reason", "ok",
                               "--as", "ann", "--expires", "12h", "--home", str(home)])
    assert done.exit_code == 0, done.output
    [record] = audit_records(home, "approval.approved")
    assert (record["door"], record["by"]) == ("cli", "ann")
    assert record["expires_at"] == pytest.approx(time.time() + 43200, abs=60)
    refused = runner.invoke(cli, ["approve", "lookup", "--scope", SCOPE, "--reason", "no",
                                  "--as", "ann", "--expires", "yesterday", "--home", str(home)])
    assert refused.exit_code != 0 and "EXPIRY_INVALID" in refused.output
