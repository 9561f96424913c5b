"""The execution lane answers `POST /v1/plugins/<name>/execute` in front of Flask: with a real
sandbox executor behind it, it asks what the app asks and answers as the app answers (status,
error shape, headers, redaction, audit), and leaves every other request to the app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from contracts.codes import Code
from contracts.layout import Layout
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.executor import Executor
from tests.install_support import a_sandbox_executor, an_installer, publish_plugin

LEAKY = "def run(inputs, ctx):\n    raise ValueError('failed in ' + __file__)\n"


class World:
    def __init__(self, client: FlaskClient, home: Path, token: str, audit: AuditLog) -> None:
        self.client, self.home, self.token, self.audit = client, home, token, audit

    def execute(self, name: str = "json-transform", body: Any = None, **kwargs: Any) -> Any:
        return self.client.post(f"/v1/plugins/{name}/execute",
                                data=json.dumps({"inputs": {"text": "hi"}} if body is None
                                                else body),
                                headers={"Authorization": f"Bearer {self.token}"},
                                content_type="application/json", **kwargs)

    def requests(self) -> list[dict[str, Any]]:
        self.audit.flush()
        return [r for r in self.audit.records() if r["kind"] == "api.request"]


def world_of(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey,
             executor: Executor | None, max_body: int | None = None) -> World:
    home = tmp_path / "home"
    audit = AuditLog(Layout(home).audit_log)
    app = create_app(ApiConfig(installer=lambda inject_failure=None, requested_by=None:
                               None,  # type: ignore[arg-type,return-value]  # runs nothing
                               tokens=TokenStore(home),
                               audit=audit, executor=executor, max_body_bytes=max_body,
                               private_paths={"home": home}))
    token, _ = TokenStore(home).create("olga", "operator", "tests")
    return World(app.test_client(), home, token, audit)


@pytest.fixture
def world(tmp_path: Path, writable_registry: Path,
          signing_key: Ed25519PrivateKey) -> Iterator[World]:
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "leaky", "1.0.0", LEAKY)
    installer = an_installer(home, writable_registry, signing_key)
    for name in ("json-transform@1.2.0", "leaky"):
        assert installer.install(name).state == "committed"
    installer.env.journal.close()
    executor = a_sandbox_executor(home)
    try:
        yield world_of(tmp_path, writable_registry, signing_key, executor, max_body=4096)
    finally:
        executor.deps.pool.close()


def test_an_execution_is_answered_with_the_apis_headers_and_audited(world: World) -> None:
    response = world.execute()
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "success"
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    (record,) = world.requests()
    assert (record["user"], record["method"], record["path"], record["status"]) == (
        "olga", "POST", "/v1/plugins/json-transform/execute", 200)


def test_a_plugins_failure_names_no_server_path(world: World) -> None:
    response = world.execute("leaky")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "<home>" in text and str(world.home) not in text


@pytest.mark.parametrize(("body", "code"), [
    ([1, 2], Code.BAD_REQUEST),
    ({"inputs": {}, "extra": 1}, Code.BAD_REQUEST),
    ({"inputs": {}, "correlation_id": "x" * 65}, Code.BAD_REQUEST),
    ({"inputs": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
     Code.BODY_TOO_DEEP),
    ({"inputs": {"text": "x" * 5000}}, Code.BODY_TOO_LARGE),
])
def test_a_bad_body_is_refused_in_the_apis_shape_and_runs_nothing(
        world: World, body: Any, code: str) -> None:
    response = world.execute(body=body)
    assert response.status_code == (413 if code == Code.BODY_TOO_LARGE else 400)
    error = response.get_json()["error"]
    assert error["code"] == code and error["next_step"]
    assert [r["status"] for r in world.requests()] == [response.status_code]


def test_who_calls_and_what_is_named_are_asked_before_the_body(world: World) -> None:
    refused = world.client.post("/v1/plugins/json-transform/execute", data="not json")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"]
    assert world.execute("Not_A_Name", body="not json").get_json()["error"]["code"] == \
        Code.PLUGIN_NAME_INVALID
    wrong = world.client.get("/v1/plugins/json-transform/execute",
                             headers={"Authorization": f"Bearer {world.token}"})
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "POST")
    assert wrong.get_json()["error"]["code"] == "HTTP_405"


def test_other_paths_go_on_to_the_app(world: World) -> None:
    for path in ("/v1/plugins/json-transform/execute/more", "/v1/plugins//execute",
                 "/v1/plugins/a/b/execute"):
        response = world.client.post(path, data="{}",
                                     headers={"Authorization": f"Bearer {world.token}"})
        # the app's answers: no such route (`//` is merged into `/v1/plugins/execute`: a name)
        assert response.status_code in (404, 405), path
        assert response.get_json()["error"]["code"] == f"HTTP_{response.status_code}"
    assert world.client.get("/healthz").status_code == 200


class Broken:
    def execute(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("/srv/secret/place went wrong")


def test_a_failure_behind_the_lane_is_a_500_in_the_apis_shape(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    world = world_of(tmp_path, writable_registry, signing_key, Broken())  # type: ignore[arg-type]
    response = world.execute()
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "HTTP_500" and "secret" not in response.get_data(as_text=True)
    stopped = world_of(tmp_path / "other", writable_registry, signing_key, None).execute()
    assert (stopped.status_code, stopped.get_json()["error"]["code"]) == (
        404, Code.EXECUTION_DISABLED)
