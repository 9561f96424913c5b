"""Nobody changes anything without being who they say they are: every /v1 endpoint refuses a
request without a valid token (401) and changes nothing; a viewer reads but cannot change (403);
an operator's changes are written to the audit log with the user; tokens are stored hashed and
revocable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from contracts.layout import Layout
from pluginops.cli import cli
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from runtime.install.service import Installer
from runtime.sandbox.audit import AuditLog
from tests.install_support import an_env

ENDPOINTS = [
    ("post", "/v1/plugins/json-transform/install", {"version": "1.2.0"}),
    ("post", "/v1/plugins/json-transform/update", {}),
    ("post", "/v1/plugins/json-transform/rollback", {}),
    ("delete", "/v1/plugins/json-transform", None),
    ("post", "/v1/plugins/json-transform/execute", {"inputs": {}}),
]
READS = ["/v1/plugins", "/v1/plugins/json-transform", "/v1/history",
         "/v1/transactions/none"]


@pytest.fixture
def world(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey
          ) -> tuple[FlaskClient, TokenStore, Path]:
    home = tmp_path / "home"
    env = an_env(home, writable_registry, signing_key)
    tokens = TokenStore(home)
    app = create_app(ApiConfig(installer=lambda inject_failure=None, requested_by=None:
                               Installer(env),
                               tokens=tokens, audit=AuditLog(home / "audit.log")))
    return app.test_client(), tokens, home


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("credentials", ["", "Bearer nonsense", "Basic YWRtaW46YWRtaW4=",
                                         "Bearer po_000000000000_" + "x" * 43])
def test_every_mutating_endpoint_refuses_an_unauthenticated_caller_and_changes_nothing(
        world: tuple[FlaskClient, TokenStore, Path], method: str, path: str,
        body: dict[str, object] | None, credentials: str) -> None:
    client, _, home = world
    headers = {"Authorization": credentials} if credentials else {}
    response = getattr(client, method)(path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "UNAUTHENTICATED"
    assert not (home / "plugins" / "json-transform").exists()
    assert not (home / "audit.log").exists() or "api.request" not in \
        (home / "audit.log").read_text()


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_a_viewer_reads_but_cannot_change(world: tuple[FlaskClient, TokenStore, Path],
                                          method: str, path: str,
                                          body: dict[str, object] | None) -> None:
    client, tokens, home = world
    viewer, _ = tokens.create("vera", "viewer", "tests")
    response = getattr(client, method)(path, json=body, headers=_bearer(viewer))
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "FORBIDDEN_ROLE" and "operator" in error["message"]
    assert not (home / "plugins" / "json-transform").exists()
    for read in READS:
        assert client.get(read, headers=_bearer(viewer)).status_code in (200, 404)


def test_an_operators_change_is_audited_with_who_made_it(
        world: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, home = world
    operator, info = tokens.create("olga", "operator", "tests")
    response = client.post("/v1/plugins/json-transform/install", json={"version": "1.2.0"},
                           headers=_bearer(operator))
    assert response.status_code == 201
    records = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    request = [r for r in records if r["kind"] == "api.request"]
    assert request == [{**request[0], "user": "olga", "role": "operator", "token": info.id,
                        "method": "POST", "path": "/v1/plugins/json-transform/install",
                        "status": 201}]
    assert AuditLog(home / "audit.log").verify().ok


def test_a_revoked_token_stops_working_and_secrets_are_stored_hashed(
        world: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, home = world
    secret, info = tokens.create("olga", "operator", "tests")
    assert client.get("/v1/plugins", headers=_bearer(secret)).status_code == 200
    assert secret.split("_")[2].encode() not in Layout(home).tokens_db.read_bytes()
    tokens.revoke(info.id)
    assert client.get("/v1/plugins", headers=_bearer(secret)).status_code == 401


def test_health_and_metrics_stay_open_for_probes_and_prometheus(
        world: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, _, _ = world
    assert client.get("/healthz").status_code == 200


def test_the_first_admin_is_bootstrapped_on_the_host_and_shown_once(
        tmp_path: Path, runner: CliRunner) -> None:
    home = tmp_path / "home"
    created = runner.invoke(cli, ["token", "create", "--user", "root-admin", "--role", "admin",
                                  "--home", str(home), "--format", "json"],
                            env={"PLUGINOPS_USER": "ops"})
    assert created.exit_code == 0, created.output
    document = json.loads(created.stdout)
    assert TokenStore(home).authenticate(document["token"]).role == "admin"  # type: ignore[union-attr]
    listed = runner.invoke(cli, ["token", "list", "--home", str(home)])
    assert "root-admin" in listed.stdout and document["token"] not in listed.stdout
    bad = runner.invoke(cli, ["token", "create", "--user", "x", "--role", "root",
                              "--home", str(home)])
    assert bad.exit_code == 2
    revoked = runner.invoke(cli, ["token", "revoke", document["id"], "--home", str(home)])
    assert revoked.exit_code == 0 and TokenStore(home).authenticate(document["token"]) is None
    kinds = [json.loads(line)["kind"] for line in (home / "audit.log").read_text().splitlines()]
    assert kinds == ["token.create", "token.revoke"]


def test_an_elevated_request_is_decided_by_a_second_admin_never_by_the_requester_or_a_viewer(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    from runtime.sandbox.approvals import Approvals
    from tests.install_support import publish_plugin
    from tests.test_sandbox_policy import ELEVATED

    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "lookup", "1.0.0",
                   "def run(inputs, ctx):\n    return {}\n", **ELEVATED)
    approvals = Approvals(home / "approvals.db")

    def installer(inject_failure: str | None = None, requested_by: str | None = None
                  ) -> Installer:
        return Installer(an_env(home, writable_registry, signing_key, approvals=approvals,
                                requested_by=requested_by or "nobody"))

    tokens = TokenStore(home)
    client = create_app(ApiConfig(installer=installer, tokens=tokens, approvals=approvals,
                                  audit=AuditLog(home / "audit.log"))).test_client()
    alice, _ = tokens.create("alice", "admin", "tests")
    bob, _ = tokens.create("bob", "admin", "tests")
    olga, _ = tokens.create("olga", "operator", "tests")
    vera, _ = tokens.create("vera", "viewer", "tests")
    waiting = client.post("/v1/plugins/lookup/install", headers=_bearer(alice))
    assert waiting.status_code == 409  # awaiting approval: nothing activated
    pending = client.get("/v1/approvals?plugin=lookup", headers=_bearer(vera)).get_json()
    assert [(r["scope"], r["requested_by"]) for r in pending["pending"]] == [
        ("network:api.example.com", "alice")]
    decision = {"scope": "network:api.example.com", "decision": "approved",
                "reason": "the register is public"}
    for token, status, code in ((vera, 403, "FORBIDDEN_ROLE"), (olga, 403, "FORBIDDEN_ROLE"),
                                (alice, 403, "FOUR_EYES")):
        refused = client.post("/v1/approvals/lookup", json=decision, headers=_bearer(token))
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (status, code)
    assert approvals.decisions("lookup") == []
    made = client.post("/v1/approvals/lookup", json=decision, headers=_bearer(bob))
    assert made.status_code == 201 and made.get_json()["decision"]["decided_by"] == "bob"
    installed = client.post("/v1/plugins/lookup/install", headers=_bearer(alice))
    assert installed.status_code == 201
    kinds = [json.loads(line)["kind"] for line in (home / "audit.log").read_text().splitlines()]
    assert "approval.approved" in kinds
