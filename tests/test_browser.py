"""The web UI in a real Chromium (Debian's, driven by Playwright) against a real `pluginops
serve`: an install failure shows its remediation, a rollback appears in history, an install in
flight shows its phase, a request is approved by a second admin and refused to its requester, and
a viewer cannot approve. Screenshots are kept in artifacts/browser/."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.layout import Layout
from runtime.auth.tokens import TokenStore
from tests.conftest import REPO
from tests.install_support import publish_plugin
from tests.serve_support import running_serve
from tests.test_sandbox_policy import ELEVATED

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO / "artifacts" / "browser"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HEALTHY = "def run(inputs, ctx):\n    return {'ok': True}\n"
SICK = HEALTHY + "\ndef health(ctx):\n    return False\n"
# Healthy once the test drops `release` into the installed package: the install stays at
# health-check for exactly as long as the test needs to look at it.
SLOW = HEALTHY + ("\nimport os, time\n\ndef health(ctx):\n"
                  "    release = os.path.join(os.path.dirname(__file__), 'release')\n"
                  "    deadline = time.monotonic() + 60\n"
                  "    while not os.path.exists(release) and time.monotonic() < deadline:\n"
                  "        time.sleep(0.02)\n"
                  "    return os.path.exists(release)\n")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("browser")
    home, registry = root / "home", root / "registry"
    key = Ed25519PrivateKey.generate()
    (root / "key.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    publish_plugin(registry, root / "src", key, "greeting-node", "1.0.0", HEALTHY)
    publish_plugin(registry, root / "src", key, "greeting-node", "1.1.0", SICK)
    publish_plugin(registry, root / "src", key, "slow-node", "1.0.0", SLOW)
    publish_plugin(registry, root / "src", key, "lookup", "1.0.0", HEALTHY, **ELEVATED)
    tokens = TokenStore(home)
    people = {user: tokens.create(user, role, "tests")[0] for user, role in
              (("alice", "admin"), ("bob", "admin"), ("olga", "operator"), ("vera", "viewer"))}
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_serve(home, "--registry", str(registry), "--trust", str(root / "key.pub"),
                       "--grafana-url", "http://grafana.example:3000") as base:
        yield {"base": base, "home": str(home), **people}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright  # make test installs it: a miss fails

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def signed_in(browser: object, runtime: dict[str, str], user: str) -> object:
    page = browser.new_context().new_page()  # type: ignore[attr-defined]
    page.goto(f"{runtime['base']}/ui/login")
    page.fill("#token", runtime[user])
    page.click("#sign-in")
    page.wait_for_selector("#whoami")
    assert user in page.inner_text("#whoami")
    return page


def test_an_update_that_fails_health_shows_the_rollback_and_its_remediation(
        browser: object, runtime: dict[str, str]) -> None:
    page = signed_in(browser, runtime, "olga")
    page.fill("#target", "greeting-node@1.0.0")
    page.click("#run-install")
    assert "Done: greeting-node 1.0.0 is active" in page.inner_text("#headline")
    page.goto(f"{runtime['base']}/ui/")
    page.fill("#target", "greeting-node@1.1.0")
    page.select_option("#operation", "update")
    page.click("#run-install")
    headline = page.inner_text("#headline")
    assert headline.startswith("Rolled back to v1.0.0: health check failed")
    assert page.inner_text("#failure-code") == "HEALTH_CHECK_FAILED"
    assert page.inner_text("#next-step").startswith("Next step: ")
    page.screenshot(path=str(SHOTS / "rollback-remediation.png"), full_page=True)
    page.goto(f"{runtime['base']}/ui/history?plugin=greeting-node&outcome=rolled_back")
    history = page.inner_text("#history")
    assert "rolled back at health-check to 1.0.0" in history
    page.screenshot(path=str(SHOTS / "history-rollback.png"), full_page=True)


def test_an_install_in_flight_shows_its_phase(browser: object,
                                              runtime: dict[str, str]) -> None:
    page = signed_in(browser, runtime, "olga")
    watcher = signed_in(browser, runtime, "vera")
    page.fill("#target", "slow-node")
    page.click("#run-install", no_wait_after=True)  # the form posts; health waits for us
    in_health = re.compile(r"Installing slow-node 1\.0\.0 \(phase 5/5: health-check\)")
    seen = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not in_health.search(seen):
        watcher.goto(f"{runtime['base']}/ui/")
        seen = watcher.inner_text("#plugins")
    assert in_health.search(seen), seen
    watcher.screenshot(path=str(SHOTS / "installing-in-flight.png"), full_page=True)
    (Layout(Path(runtime["home"])).version_dir("slow-node", "1.0.0") / "release").touch()
    page.wait_for_selector("#headline", timeout=60_000)
    assert "Done: slow-node 1.0.0 is active" in page.inner_text("#headline")


def test_an_elevated_request_is_approved_by_a_second_admin_and_not_by_its_requester(
        browser: object, runtime: dict[str, str]) -> None:
    alice = signed_in(browser, runtime, "alice")
    alice.fill("#target", "lookup")
    alice.click("#run-install")
    assert "Awaiting approval" in alice.inner_text("#headline")
    alice.goto(f"{runtime['base']}/ui/approvals")
    alice.fill("form.decide input[name=reason]", "my own request")
    alice.click("form.decide button[value=approved]")
    assert alice.inner_text("#failure-code") == "FOUR_EYES"
    alice.screenshot(path=str(SHOTS / "approval-refused-to-requester.png"), full_page=True)
    vera = signed_in(browser, runtime, "vera")
    vera.goto(f"{runtime['base']}/ui/approvals")
    assert "network:api.example.com" in vera.inner_text("#pending")
    assert vera.locator("form.decide").count() == 0
    vera.screenshot(path=str(SHOTS / "viewer-cannot-approve.png"), full_page=True)
    bob = signed_in(browser, runtime, "bob")
    bob.goto(f"{runtime['base']}/ui/approvals")
    bob.fill("form.decide input[name=reason]", "the register is public")
    bob.click("form.decide button[value=approved]")
    decisions = bob.inner_text("#decisions")
    assert "approved" in decisions and "bob" in decisions
    bob.screenshot(path=str(SHOTS / "approved-by-second-admin.png"), full_page=True)
    bob.goto(f"{runtime['base']}/ui/")
    bob.fill("#target", "lookup")
    bob.click("#run-install")
    assert "Done: lookup 1.0.0 is active" in bob.inner_text("#headline")
