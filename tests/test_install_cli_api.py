"""The installer through its two front doors: the CLI (text and JSON) and the HTTP API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from pluginops.cli import cli
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from runtime.install.phases import Injector
from runtime.install.service import Installer
from tests.install_support import an_env, an_installer


@pytest.fixture
def opts(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> list[str]:
    key = tmp_path / "trusted.pub"
    key.write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return ["--home", str(tmp_path / "home"), "--registry", str(writable_registry),
            "--trust", str(key)]


def test_cli_install_shows_phases_then_the_result(runner: CliRunner, opts: list[str]) -> None:
    result = runner.invoke(cli, ["install", "json-transform@1.2.0", *opts])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Installed json-transform 1.2.0\n"
    assert result.stderr.splitlines() == [
        f"Installing json-transform 1.2.0 (phase {i}/5: {phase})"
        for i, phase in enumerate(["download", "verify", "dependency-prepare", "activate",
                                   "health-check"], 1)]


def test_cli_failed_update_says_rolled_back_with_next_step_and_exits_1(
        runner: CliRunner, opts: list[str]) -> None:
    runner.invoke(cli, ["install", "json-transform@1.2.0", *opts])
    result = runner.invoke(cli, ["update", "json-transform", "--inject-failure", "verify",
                                 *opts])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "Rolled back to v1.2.0: failure injected into phase verify"
    assert lines[1].startswith("  next step: none: this failure was asked for")
    assert lines[2].startswith("  correlation id: ")
    status = runner.invoke(cli, ["status", *opts[:2]])
    assert status.stdout.splitlines() == [
        "json-transform 1.2.0 active (node)",
        "  last update rolled back: INJECTED_FAILURE: failure injected into phase verify"]


def test_cli_injected_failure_also_comes_from_the_environment(
        runner: CliRunner, opts: list[str]) -> None:
    result = runner.invoke(cli, ["install", "json-transform", "--format", "json", *opts],
                           env={"PLUGINOPS_INJECT_FAILURE": "health-check"})
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert (body["outcome"], body["error"]["phase"]) == ("rolled_back", "health-check")


def test_cli_history_lists_phases_durations_and_rollbacks(runner: CliRunner,
                                                         opts: list[str]) -> None:
    runner.invoke(cli, ["install", "json-transform@1.2.0", *opts])
    runner.invoke(cli, ["update", "json-transform", "--inject-failure", "activate", *opts])
    result = runner.invoke(cli, ["history", "json-transform", "--format", "json", *opts[:2]])
    rows = json.loads(result.stdout)["transactions"]
    assert [(r["operation"], r["outcome"]) for r in rows] == [
        ("update", "rolled_back"), ("install", "committed")]
    assert rows[0]["phases"][-1] == {"phase": "activate", "outcome": "failed",
                                     "code": "INJECTED_FAILURE"}
    assert all(p["duration_s"] >= 0 for p in rows[1]["phases"])
    text = runner.invoke(cli, ["history", "json-transform", *opts[:2]]).stdout
    assert "rolled back to 1.2.0: failure injected into phase activate" in text


def test_cli_refusal_before_any_transaction_is_a_structured_error(
        runner: CliRunner, opts: list[str]) -> None:
    result = runner.invoke(cli, ["update", "json-transform", "--format", "json", *opts])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "NOT_INSTALLED"


@pytest.fixture
def client(tmp_path: Path, writable_registry: Path,
           signing_key: Ed25519PrivateKey) -> FlaskClient:
    env = an_env(tmp_path / "home", writable_registry, signing_key)
    tokens = TokenStore(tmp_path / "home")
    app = create_app(ApiConfig(installer=lambda inject_failure=None, requested_by=None:
                               Installer(env),
                               tokens=tokens, metrics=env.metrics.registry))
    client = app.test_client()
    token, _ = tokens.create("operator-1", "operator", "tests")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def test_api_install_status_and_history(client: FlaskClient) -> None:
    created = client.post("/v1/plugins/json-transform/install", json={"version": "1.2.0"})
    assert created.status_code == 201
    assert created.get_json()["message"] == "Installed json-transform 1.2.0"
    status = client.get("/v1/plugins/json-transform").get_json()
    assert (status["state"], status["version"]) == ("active", "1.2.0")
    tx_id = created.get_json()["tx_id"]
    detail = client.get(f"/v1/transactions/{tx_id}").get_json()
    assert [e["kind"] for e in detail["events"]][:2] == ["started", "phase_started"]
    assert detail["events"][-1]["kind"] == "committed"
    assert client.get("/v1/history?plugin=json-transform").get_json()["transactions"][0][
        "tx_id"] == tx_id


def test_api_install_of_an_unknown_plugin_is_404(client: FlaskClient) -> None:
    response = client.post("/v1/plugins/no-such/install")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "PLUGIN_NOT_IN_REGISTRY"


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    pytest.param("post", "/v1/plugins/json-transform/install", "not json", 400, "BAD_REQUEST",
                 id="a body that is not JSON"),
    pytest.param("post", "/v1/plugins/json-transform/install", {"versoin": "1"}, 400,
                 "BAD_REQUEST", id="a misspelt field"),
    pytest.param("post", "/v1/plugins/json-transform/install", {"version": 1}, 400,
                 "BAD_REQUEST", id="a number as a version"),
    pytest.param("post", "/v1/plugins/Bad%20Name/install", None, 400, "PLUGIN_NAME_INVALID",
                 id="a bad plugin name"),
    pytest.param("delete", "/v1/plugins/json-transform", None, 404, "NOT_INSTALLED",
                 id="uninstalling what is not installed"),
    pytest.param("get", "/v1/transactions/nope", None, 404, "TRANSACTION_NOT_FOUND",
                 id="an unknown transaction"),
    pytest.param("get", "/v1/history?limit=0", None, 400, "BAD_REQUEST", id="a bad limit"),
    pytest.param("get", "/v1/nothing-here", None, 404, "HTTP_404", id="an unknown route"),
])
def test_api_errors_are_structured(client: FlaskClient, method: str, path: str,
                                   body: object, status: int, code: str) -> None:
    kwargs = ({"data": body, "content_type": "application/json"} if isinstance(body, str)
              else {"json": body} if body is not None else {})
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["next_step"]


def test_api_rollback_of_an_update_over_http(client: FlaskClient) -> None:
    assert client.post("/v1/plugins/json-transform/install",
                       json={"version": "1.2.0"}).status_code == 201
    assert client.post("/v1/plugins/json-transform/update").status_code == 200
    back = client.post("/v1/plugins/json-transform/rollback", json={"to": "1.2.0"})
    assert back.status_code == 200
    assert back.get_json()["message"] == "Rolled back json-transform 1.2.0"
    gone = client.delete("/v1/plugins/json-transform")
    assert gone.get_json()["outcome"] == "committed"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'pluginops_install_transactions_total{operation="rollback",outcome="committed",' \
           'plugin="json-transform"} 1.0' in metrics


def test_api_update_that_fails_health_is_409_and_names_the_version_restored(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    an_installer(home, writable_registry, signing_key).install("json-transform@1.2.0")
    failing = an_env(home, writable_registry, signing_key,
                     injector=Injector(fail_phase="health-check"))
    tokens = TokenStore(home)
    app = create_app(ApiConfig(installer=lambda inject_failure=None, requested_by=None:
                               Installer(failing),
                               tokens=tokens))
    token, _ = tokens.create("operator-1", "operator", "tests")
    response = app.test_client().post("/v1/plugins/json-transform/update",
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"]["code"] == "INJECTED_FAILURE"
    assert body["error"]["message"] == ("Rolled back to v1.2.0: failure injected into phase "
                                        "health-check")
    assert body["outcome"]["active_version"] == "1.2.0"


def test_the_download_progress_bar_draws_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from pluginops.cli.progress import ConsoleReporter

    out = io.StringIO()
    reporter = ConsoleReporter(Console(file=out, force_terminal=True, width=80))
    reporter.phase("bulky", "2.0.0", "update", 1, 5, "download")
    reporter.download(25 * 1024 * 1024, 50 * 1024 * 1024)
    reporter.done()
    text = out.getvalue()
    assert "Updating bulky 2.0.0 (phase 1/5: download)" in text
    assert "26.2/52.4 MB" in text
