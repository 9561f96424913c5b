"""Hostile input to the JSON API gets a 400 with a code and changes nothing: bodies nested past
the depth limit (and deep enough to overflow a recursive parser), bodies that are not JSON,
rollback targets that are paths or pages of text rather than versions, plugin names with a
trailing newline; and whatever JSON or bytes arrive, never a 500."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.codes import Code
from contracts.layout import Layout
from runtime.api.app import ApiConfig, create_app
from runtime.api.bodies import MAX_DEPTH
from runtime.auth.tokens import TokenStore
from runtime.install.journal import Journal
from runtime.install.service import Installer
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from tests.conftest import REPO
from tests.install_support import an_env

JSON_ROUTES = ["/v1/plugins/json-transform/install", "/v1/plugins/json-transform/update",
               "/v1/plugins/json-transform/rollback", "/v1/plugins/json-transform/execute",
               "/v1/approvals/json-transform"]


@pytest.fixture
def world(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey
          ) -> tuple[FlaskClient, dict[str, str], Path]:
    home = tmp_path / "home"
    env = an_env(home, writable_registry, signing_key)
    tokens = TokenStore(home)
    app = create_app(ApiConfig(installer=lambda inject_failure=None, requested_by=None:
                               Installer(env), tokens=tokens,
                               audit=AuditLog(home / "audit.log"),
                               approvals=Approvals(Layout(home).approvals_db)))
    token, _ = tokens.create("root", "admin", "tests")
    return app.test_client(), {"Authorization": f"Bearer {token}"}, home


def nested(levels: int) -> bytes:
    return b'{"version": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def transactions(home: Path) -> int:
    journal = Journal(home / "journal.db")
    try:
        return len(journal.transactions())
    finally:
        journal.close()


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1_000, 100_000])
def test_a_body_nested_past_the_limit_is_refused_on_every_json_route(
        world: tuple[FlaskClient, dict[str, str], Path], route: str, levels: int) -> None:
    client, auth, home = world
    response = client.post(route, data=nested(levels), headers=auth,
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == Code.BODY_TOO_DEEP
    assert transactions(home) == 0 and not (home / "plugins" / "json-transform").exists()


def test_a_body_at_the_limit_is_judged_on_its_content(
        world: tuple[FlaskClient, dict[str, str], Path]) -> None:
    client, auth, _ = world
    response = client.post(JSON_ROUTES[0], data=nested(MAX_DEPTH), headers=auth,
                           content_type="application/json")
    assert response.status_code == 400  # not too deep: a version that is not a string
    assert response.get_json()["error"]["code"] == Code.BAD_REQUEST


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", b"{\"version\": NaN"])
def test_a_body_that_is_not_json_is_a_bad_request(
        world: tuple[FlaskClient, dict[str, str], Path], body: bytes) -> None:
    client, auth, home = world
    response = client.post(JSON_ROUTES[0], data=body, headers=auth,
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == Code.BAD_REQUEST
    assert transactions(home) == 0


@pytest.mark.parametrize("target", ["../../canary", "/etc/passwd", "x" * 100_000, "^1.2",
                                    "1.2.0\n", "1.2"])
def test_a_rollback_target_must_be_a_version_and_nothing_starts_otherwise(
        world: tuple[FlaskClient, dict[str, str], Path], target: str) -> None:
    client, auth, home = world
    assert client.post(JSON_ROUTES[0], json={"version": "1.2.0"}, headers=auth
                       ).status_code == 201
    before = transactions(home), sorted(p.name for p in (home / "logs").rglob("*")) \
        if (home / "logs").exists() else []
    response = client.post(JSON_ROUTES[2], json={"to": target}, headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == Code.VERSION_INVALID and len(error["message"]) < 200
    after = transactions(home), sorted(p.name for p in (home / "logs").rglob("*")) \
        if (home / "logs").exists() else []
    assert after == before  # no journal row, no log file


def test_a_plugin_name_with_a_trailing_newline_is_not_a_name(
        world: tuple[FlaskClient, dict[str, str], Path]) -> None:
    client, auth, home = world
    response = client.post("/v1/plugins/json-transform%0A/install", json={}, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == Code.PLUGIN_NAME_INVALID
    assert transactions(home) == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
    st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=40)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values, route=st.sampled_from(JSON_ROUTES[1:]))
def test_no_json_body_gives_a_server_error(
        world: tuple[FlaskClient, dict[str, str], Path], body: Any, route: str) -> None:
    client, auth, home = world
    before = transactions(home)
    response = client.post(route, data=json.dumps(body), headers=auth,
                           content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    payload = response.get_json()
    if response.status_code >= 400:
        assert payload["error"]["code"] and payload["error"]["next_step"]
        if response.status_code != 409:  # a failed operation is journalled; a refusal is not
            assert transactions(home) == before


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200), route=st.sampled_from(JSON_ROUTES))
def test_no_bytes_give_a_server_error(
        world: tuple[FlaskClient, dict[str, str], Path], body: bytes, route: str) -> None:
    client, auth, home = world
    before = transactions(home)
    response = client.post(route, data=body, headers=auth, content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:  # refused: nothing started (an empty body is a request)
        assert transactions(home) == before


def test_no_answer_names_a_server_folder(tmp_path: Path, writable_registry: Path,
                                          signing_key: Ed25519PrivateKey) -> None:
    """The registry's folder (in an error's `where`), the home and the installation's folders
    (in a plugin's traceback) are labels, not paths, in what the server answers."""
    home = tmp_path / "home"
    env = an_env(home, writable_registry, signing_key)
    tokens = TokenStore(home)
    app = create_app(ApiConfig(installer=lambda inject_failure=None, requested_by=None:
                               Installer(env), tokens=tokens, audit=AuditLog(home / "audit.log"),
                               ui_home=home, private_paths={"registry": writable_registry}))
    token, _ = tokens.create("root", "admin", "tests")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}

    missing = client.post("/v1/plugins/nope/install", json={}, headers=auth)

    assert missing.status_code == 404
    assert missing.get_json()["error"]["where"] == "<registry>"
    answers = [missing, client.get("/v1/plugins/nope", headers=auth),
               client.get("/ui/", headers=auth)]
    for answer in answers:
        text = answer.get_data(as_text=True)
        for folder in (home, writable_registry, REPO, Path(sys.prefix)):
            assert str(folder) not in text, (answer.request.path, folder)
