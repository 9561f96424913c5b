"""The web UI through Flask's test client: sign-in by token into a session, CSRF on every form,
roles as in the API, and the pages showing states from real installs (in flight, rolled back
with its reason, refused with its remediation), approvals and the policy editor."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from pluginops.budgets import budget_reader
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from runtime.install.phases import Injector
from runtime.install.service import Installer
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from tests.install_support import an_env, publish_plugin
from tests.test_sandbox_policy import ELEVATED


@pytest.fixture
def site(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey
         ) -> tuple[FlaskClient, TokenStore, Path]:
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "lookup", "1.0.0",
                   "def run(inputs, ctx):\n    return {}\n", **ELEVATED)
    approvals = Approvals(home / "approvals.db")

    def installer(inject_failure: str | None = None, requested_by: str | None = None
                  ) -> Installer:
        injector = Injector(fail_phase="health-check") if requested_by == "failing-olga" \
            else Injector()
        return Installer(an_env(home, writable_registry, signing_key, approvals=approvals,
                                requested_by=requested_by or "nobody", injector=injector))

    tokens = TokenStore(home)
    app = create_app(ApiConfig(installer=installer, tokens=tokens, approvals=approvals,
                               audit=AuditLog(home / "audit.log"), ui_home=home,
                               session_secret=b"s" * 32, grafana_url="http://grafana:3000"))
    return app.test_client(), tokens, home


def sign_in(client: FlaskClient, tokens: TokenStore, user: str, role: str) -> str:
    token, _ = tokens.create(user, role, "tests")
    response = client.post("/ui/login", data={"token": token})
    assert response.status_code == 302
    page = client.get("/ui/").get_data(as_text=True)
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_pages_need_a_session_and_a_bad_token_changes_nothing(
        site: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, _, home = site
    for path in ("/ui/", "/ui/history", "/ui/approvals", "/ui/policy"):
        response = client.get(path)
        assert response.status_code == 302 and "/ui/login" in response.headers["Location"]
    for path in ("/ui/install", "/ui/approvals/lookup", "/ui/policy", "/ui/logout"):
        assert client.post(path, data={"target": "json-transform"}).status_code == 401
    assert client.post("/ui/login", data={"token": "po_nope"}).status_code == 401
    assert not (home / "plugins" / "json-transform").exists()


def test_a_form_without_its_csrf_token_is_refused(
        site: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, home = site
    sign_in(client, tokens, "olga", "operator")
    response = client.post("/ui/install", data={"target": "json-transform@1.2.0"})
    assert response.status_code == 400 and b"CSRF" in response.data
    assert not (home / "plugins" / "json-transform").exists()


def test_an_install_shows_its_timeline_and_a_rollback_its_reason_and_remediation(
        site: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, home = site
    csrf = sign_in(client, tokens, "olga", "operator")
    done = client.post("/ui/install", data={"target": "json-transform@1.2.0", "csrf": csrf},
                       follow_redirects=True).get_data(as_text=True)
    assert "Done: json-transform 1.2.0 is active" in done
    assert done.count('">completed') == 5  # the five phases, each completed
    csrf = sign_in(client, tokens, "failing-olga", "operator")
    page = client.post("/ui/install", data={"target": "json-transform@2.0.0",
                                             "operation": "update", "csrf": csrf},
                       follow_redirects=True).get_data(as_text=True)
    assert "Rolled back to v1.2.0: failure injected into phase health-check" in page
    assert "INJECTED_FAILURE" in page and "Next step:" in page
    history = client.get("/ui/history?outcome=rolled_back").get_data(as_text=True)
    assert "rolled back at health-check to 1.2.0" in history
    refused = client.post("/ui/install", data={"target": "json-transform@9.9.9",
                                                "csrf": csrf})
    text = refused.get_data(as_text=True)
    assert refused.status_code >= 400 and "Next step:" in text and "Nothing was changed" in text
    plugins = client.get("/ui/").get_data(as_text=True)
    assert "http://grafana:3000/d/pluginops-plugin?var-plugin=json-transform" in plugins
    kinds = [json.loads(line)["kind"] for line in (home / "audit.log").read_text().splitlines()]
    assert kinds.count("ui.install") == 1 and "ui.update" in kinds and \
        "ui.install.refused" in kinds


def test_approvals_need_a_second_admin_and_viewers_see_no_buttons(
        site: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, _ = site
    csrf = sign_in(client, tokens, "alice", "admin")
    client.post("/ui/install", data={"target": "lookup", "csrf": csrf})
    own = client.post("/ui/approvals/lookup", data={
        "csrf": csrf, "scope": "network:api.example.com", "decision": "approved",
        "reason": "mine"})
    assert own.status_code == 403 and b"FOUR_EYES" in own.data
    csrf = sign_in(client, tokens, "vera", "viewer")
    page = client.get("/ui/approvals").get_data(as_text=True)
    assert "network:api.example.com" in page and "Approve" not in page
    refused = client.post("/ui/approvals/lookup", data={
        "csrf": csrf, "scope": "network:api.example.com", "decision": "approved",
        "reason": "sure"})
    assert refused.status_code == 403
    csrf = sign_in(client, tokens, "bob", "admin")
    client.post("/ui/approvals/lookup", data={
        "csrf": csrf, "scope": "network:api.example.com", "decision": "approved",
        "reason": "the register is public", "expires_days": "30"})
    decisions = client.get("/ui/approvals").get_data(as_text=True)
    assert "bob" in decisions and "the register is public" in decisions
    assert "30.0 days" in decisions


def test_policy_edits_are_validated_versioned_and_audited(
        site: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, home = site
    csrf = sign_in(client, tokens, "alice", "admin")
    bad = client.post("/ui/policy", data={"csrf": csrf, "policy": "version: 1\nfrobnicate: 1",
                                          "reason": "try"})
    assert bad.status_code == 400 and b"POLICY_INVALID" in bad.data
    assert not (home / "policy.yaml").exists()
    good = "version: 1\nallow_unsigned: false\ntypes:\n  agent:\n    forbid: ['process:*']\n"
    assert client.post("/ui/policy", data={"csrf": csrf, "policy": good,
                                           "reason": "agents spawn nothing"}).status_code == 302
    assert (home / "policy.yaml").read_text() == good
    page = client.get("/ui/policy").get_data(as_text=True)
    assert "revision 1 by alice" in page
    records = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    assert [r["reason"] for r in records if r["kind"] == "policy.edit"] == \
        ["agents spawn nothing"]


@pytest.mark.parametrize(("path", "role"), [("/ui/install", "viewer"),
                                            ("/ui/approvals/lookup", "viewer"),
                                            ("/ui/approvals/lookup", "operator"),
                                            ("/ui/policy", "viewer"), ("/ui/policy", "operator")])
def test_every_form_refuses_an_under_privileged_user(
        site: tuple[FlaskClient, TokenStore, Path], path: str, role: str) -> None:
    client, tokens, home = site
    csrf = sign_in(client, tokens, f"someone-{role}", role)
    response = client.post(path, data={"csrf": csrf, "target": "json-transform@1.2.0",
                                       "scope": "network:api.example.com",
                                       "decision": "approved", "reason": "r",
                                       "policy": "version: 1\n"})
    assert response.status_code == 403
    assert not (home / "plugins" / "json-transform").exists()
    assert not (home / "policy.yaml").exists()


def test_the_plugins_page_shows_each_plugins_budget_from_prometheus(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Prometheus(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"plugin": "json-transform", "slo": "availability"},
                 "value": [0, "0.634"]},
                {"metric": {"plugin": "json-transform", "slo": "latency"},
                 "value": [0, "0.999"]}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Prometheus)
    Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    home = tmp_path / "home"
    tokens = TokenStore(home)
    app = create_app(ApiConfig(
        installer=lambda inject_failure=None, requested_by=None: Installer(
            an_env(home, writable_registry, signing_key)),
        tokens=tokens, ui_home=home, session_secret=b"s" * 32,
        slo_status=budget_reader(f"http://127.0.0.1:{server.server_address[1]}")))
    client = app.test_client()
    csrf = sign_in(client, tokens, "olga", "operator")
    client.post("/ui/install", data={"target": "json-transform@1.2.0", "csrf": csrf})
    page = client.get("/ui/").get_data(as_text=True)
    assert "availability 63.4% of budget left, latency 99.9% of budget left" in page
    server.shutdown()
    unreachable = create_app(ApiConfig(
        installer=lambda inject_failure=None, requested_by=None: Installer(
            an_env(home, writable_registry, signing_key)),
        tokens=tokens, ui_home=home, session_secret=b"s" * 32,
        slo_status=budget_reader("http://127.0.0.1:9"))).test_client()
    sign_in(unreachable, tokens, "olga2", "operator")
    assert "Prometheus unreachable" in unreachable.get("/ui/").get_data(as_text=True)


def test_revoking_a_token_ends_its_sessions(site: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, _ = site
    sign_in(client, tokens, "olga", "operator")
    token_id = tokens.list()[-1].id
    assert client.get("/ui/").status_code == 200
    tokens.revoke(token_id)
    assert client.get("/ui/").status_code == 302


def test_a_plugin_page_without_a_metrics_store_says_what_to_start(
        site: tuple[FlaskClient, TokenStore, Path]) -> None:
    client, tokens, _ = site
    sign_in(client, tokens, "vera", "viewer")
    page = client.get("/ui/plugins/lookup").get_data(as_text=True)
    assert 'id="trends-missing"' in page and "--prometheus-url" in page
    assert "No denial recorded for lookup." in page
    assert client.get("/ui/plugins/..%2Fetc").status_code == 404  # not a plugin name
    assert client.get("/ui/plugins/Bad!Name").status_code == 400
