"""Authentication that holds up to guessing and to a shared browser: failed authentications are
throttled per client and per token id (429 with Retry-After, even for a good token while the
client is throttled) and audited in aggregate; UI pages carry a Content-Security-Policy without
inline script or style, refuse framing and sniffing, and nothing behind authentication is
cached; UI sessions live on the server, so signing out ends them for good, and they end after
30 idle minutes and 12 hours whatever happens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from contracts.codes import Code
from runtime.api.app import ApiConfig, create_app
from runtime.auth.sessions import IDLE_S, LIFETIME_S, Sessions
from runtime.auth.throttle import Throttle
from runtime.auth.tokens import TokenStore
from runtime.install.service import Installer
from runtime.sandbox.audit import AuditLog
from runtime.testing import FakeClock
from tests.install_support import an_env

LIMIT, WINDOW_S = 5, 60.0


class World:
    def __init__(self, home: Path, app: Flask, tokens: TokenStore, clock: FakeClock) -> None:
        self.home, self.app, self.tokens, self.clock = home, app, tokens, clock
        self.good, _ = tokens.create("ann", "admin", "tests")
        self.audit = AuditLog(home / "audit.log")

    def client(self, address: str = "10.0.0.1") -> FlaskClient:
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client

    def refusals(self) -> list[dict[str, object]]:
        return [r for r in self.audit.records() if r["kind"] == "auth.refused"]


@pytest.fixture
def world(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> World:
    home = tmp_path / "home"
    env = an_env(home, writable_registry, signing_key)
    tokens = TokenStore(home)
    clock = FakeClock()
    app = create_app(ApiConfig(
        installer=lambda inject_failure=None, requested_by=None: Installer(env),
        tokens=tokens, audit=AuditLog(home / "audit.log"), ui_home=home,
        session_secret=b"k" * 32, throttle=Throttle(LIMIT, WINDOW_S, clock),
        sessions=Sessions(clock=clock)))
    return World(home, app, tokens, clock)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_client_guessing_tokens_is_throttled_even_for_a_good_one_until_the_window_moves(
        world: World) -> None:
    client = world.client()
    for attempt in range(LIMIT):
        response = client.get("/v1/plugins", headers=bearer(f"guess-{attempt}"))
        assert response.status_code == 401
    refused = client.get("/v1/plugins", headers=bearer(world.good))
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == Code.AUTH_THROTTLED
    assert 0 < int(refused.headers["Retry-After"]) <= WINDOW_S
    assert world.client("10.0.0.2").get("/v1/plugins", headers=bearer(world.good)
                                         ).status_code == 200  # another client is not
    world.clock.advance(WINDOW_S + 1)
    assert client.get("/v1/plugins", headers=bearer(world.good)).status_code == 200
    # audited in aggregate: the first refusal of the window and the one that crossed the limit
    assert [(r["key"], r["failures"], r["throttled"]) for r in world.refusals()] == [
        ("client:10.0.0.1", 1, False), ("client:10.0.0.1", LIMIT, True)]


def test_guesses_at_one_token_from_many_clients_are_throttled_per_token(world: World) -> None:
    token_id = world.good.split("_")[1]
    for attempt in range(LIMIT):
        client = world.client(f"10.0.1.{attempt}")
        wrong = f"po_{token_id}_{'x' * 43}"
        assert client.get("/v1/plugins", headers=bearer(wrong)).status_code == 401
    response = world.client("10.0.2.1").get("/v1/plugins", headers=bearer(world.good))
    assert response.status_code == 429  # that token is under attack: wait, whoever you are
    assert any(r["key"] == f"token:{token_id}" and r["throttled"] for r in world.refusals())


def test_a_flood_of_wrong_tokens_writes_a_bounded_audit_trail(world: World) -> None:
    client = world.client()
    statuses = {client.get("/v1/plugins", headers=bearer(f"g{i}")).status_code
                for i in range(200)}
    assert statuses == {401, 429}
    assert len(world.refusals()) == 2


def test_the_ui_login_form_is_throttled_too(world: World) -> None:
    client = world.client()
    for _ in range(LIMIT):
        assert client.post("/ui/login", data={"token": "nope"}).status_code == 401
    assert client.post("/ui/login", data={"token": world.good}).status_code == 429


def test_ui_pages_forbid_inline_code_framing_sniffing_and_caching(world: World) -> None:
    client = world.client()
    page = client.get("/ui/login")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "<style" not in html and "<script" not in html and " style=" not in html
    sheet = re.search(r'href="(/ui/static/[^"]+\.css)"', html)
    assert sheet and client.get(sheet.group(1)).status_code == 200
    api = client.get("/v1/plugins", headers=bearer(world.good))
    assert api.headers["Cache-Control"] == "no-store"
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def sign_in(world: World, client: FlaskClient) -> None:
    response = client.post("/ui/login", data={"token": world.good})
    assert response.status_code == 302


def signed_in(client: FlaskClient) -> bool:
    return client.get("/ui/").status_code == 200


def test_signing_out_ends_the_session_for_good(world: World) -> None:
    client = world.client()
    sign_in(world, client)
    assert signed_in(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/").get_data(as_text=True))
    assert csrf and client.post("/ui/logout", data={"csrf": csrf.group(1)}).status_code == 302
    assert not signed_in(client)
    replay = world.client()  # the old cookie, kept by someone, opens nothing
    replay.set_cookie("session", cookie.value, domain=cookie.domain or "localhost")
    assert not signed_in(replay)


@pytest.mark.parametrize(("pause", "alive"), [(IDLE_S - 60, True), (IDLE_S + 60, False)])
def test_an_idle_session_ends(world: World, pause: float, alive: bool) -> None:
    client = world.client()
    sign_in(world, client)
    world.clock.advance(pause)
    assert signed_in(client) is alive


def test_no_session_outlives_its_lifetime_however_busy(world: World) -> None:
    client = world.client()
    sign_in(world, client)
    busy = 0.0
    while signed_in(client):  # used every quarter of an hour, never idle
        world.clock.advance(IDLE_S / 2)
        busy += IDLE_S / 2
        assert busy <= LIFETIME_S + IDLE_S
    assert busy > LIFETIME_S - IDLE_S


def test_the_cookie_is_secure_when_served_over_tls(tmp_path: Path, writable_registry: Path,
                                                   signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    env = an_env(home, writable_registry, signing_key)
    tokens = TokenStore(home)
    good, _ = tokens.create("ann", "admin", "tests")
    app = create_app(ApiConfig(
        installer=lambda inject_failure=None, requested_by=None: Installer(env),
        tokens=tokens, ui_home=home, session_secret=b"k" * 32, secure_cookies=True))
    response = app.test_client().post("/ui/login", data={"token": good})
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
