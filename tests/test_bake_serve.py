"""A bake in `pluginops serve`: the runtime routes executions between the two versions, its
supervisor decides within a second of the evidence, a bake survives the runtime being killed
(its counts are durable and the next runtime goes on from them), and the API and the CLI show
it from start to verdict."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.catalogue import BAKE_IN_PROGRESS, BAKES
from contracts.errors import PluginopsError
from contracts.layout import Layout
from runtime.auth.tokens import TokenStore
from runtime.bake.store import Bakes
from runtime.install.baking import BakeRequest
from stack.processes import wait_until
from stack.traffic import post
from tests.install_support import an_installer, publish_plugin
from tests.serve_support import PLUGINOPS, serve_process
from tests.test_bake import FINE, PLUGIN, QUARTER_FAILING

BEFORE_KILL = 20  # executions the first runtime serves: too few to decide at a 30% weight


def get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def scrape(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def counted(home: Path) -> tuple[str, int]:
    store = Bakes(Layout(home).bakes_db)
    try:
        (bake,) = store.history(PLUGIN, 1)
        return bake.state, bake.candidate_arm.executions + bake.baseline_arm.executions
    finally:
        store.close()


def test_a_bake_survives_a_killed_runtime_and_the_next_one_rolls_the_regression_back(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    for version, module in (("1.0.0", FINE), ("2.0.0", QUARTER_FAILING)):
        publish_plugin(writable_registry, tmp_path / "src", signing_key, PLUGIN, version, module)
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    installer.install(f"{PLUGIN}@1.0.0")
    update = installer.update(f"{PLUGIN}@2.0.0", bake=BakeRequest(0.3, 500))
    installer.env.journal.close()
    token, _ = TokenStore(home).create("bake-test", "operator", "tests")

    logs = [tmp_path / "serve-1.log", tmp_path / "serve-2.log"]
    with serve_process(home, log_file=logs[0]) as (base, first):
        for n in range(BEFORE_KILL):
            assert post(f"{base}/v1/plugins/{PLUGIN}/execute", {"inputs": {"n": n}},
                        token)[0] in (200, 422)
        wait_until(lambda: counted(home), ("baking", BEFORE_KILL), timeout=15)
        baking = get(f"{base}/v1/plugins/{PLUGIN}/bake", token)["baking"]
        assert baking["id"] == update.tx_id
        assert baking["line"].startswith("Baking 2.0.0: 30% of executions, ")
        assert f'{BAKE_IN_PROGRESS.name}{{plugin="{PLUGIN}"}} 1.0' in scrape(base)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    assert counted(home) == ("baking", BEFORE_KILL)  # nothing lost, nothing decided
    with serve_process(home, log_file=logs[1]) as (base, _):
        executed, answers = 0, Counter[int]()
        while counted(home)[0] == "baking" and executed < 600:
            answers[post(f"{base}/v1/plugins/{PLUGIN}/execute", {"inputs": {"n": executed}},
                         token)[0]] += 1
            executed += 1
        assert set(answers) <= {200, 422}, answers  # every request executed
        try:
            wait_until(lambda: counted(home)[0], "rolled_back", timeout=15)
        except PluginopsError as failed:  # what the runtimes said, and the bake's record
            store = Bakes(Layout(home).bakes_db)
            raise AssertionError(f"{failed.message}; {answers}; "
                                 f"{store.history(PLUGIN, 1)[0].to_dict()}; "
                                 + " | ".join(log.read_text()[-2000:] for log in logs)) from None
        status = get(f"{base}/v1/plugins/{PLUGIN}", token)
        bakes = get(f"{base}/v1/plugins/{PLUGIN}/bake", token)
        metrics = scrape(base)

    state, total = counted(home)
    assert state == "rolled_back"
    assert BEFORE_KILL < total <= BEFORE_KILL + executed  # the first runtime's counts went on
    assert status["version"] == "1.0.0"
    assert bakes["baking"] is None
    assert f'{BAKES.name}{{outcome="rolled_back",plugin="{PLUGIN}"}} 1.0' in metrics
    assert f'{BAKE_IN_PROGRESS.name}{{plugin="{PLUGIN}"}} 0.0' in metrics
    assert bakes["bakes"][0]["line"].startswith("Rolled back to v1.0.0: error ratio ")
    shown = subprocess.run([PLUGINOPS, "bake", "status", PLUGIN, "--home", str(home)],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"{PLUGIN} ({update.tx_id[:12]}): Rolled back to v1.0.0: error ratio" in shown.stdout


@pytest.mark.parametrize(("body", "where"), [
    ({"bake": "yes"}, "body.bake"),
    ({"bake": {"weight": "0.1"}}, "body.bake.weight"),
    ({"bake": {"min_executions": 1.5}}, "body.bake.min_executions"),
    ({"bake": {"share": 0.1}}, "body.bake"),
    ({"bake": {"weight": 1.5}}, "canary_weight"),
])
def test_a_bad_bake_in_an_update_request_is_a_400_and_changes_nothing(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey,
        body: dict[str, Any], where: str) -> None:
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    installer.install("json-transform@1.2.0")
    installer.env.journal.close()
    token, _ = TokenStore(home).create("bake-test", "operator", "tests")
    with serve_process(home, "--registry", str(writable_registry)) as (base, _):
        status, answer = post(f"{base}/v1/plugins/json-transform/update", body, token)
        after = get(f"{base}/v1/plugins/json-transform", token)
    assert status == 400, answer
    assert answer["error"]["where"] == where and answer["error"]["next_step"]
    assert "1.2.0" in json.dumps(after) and "2.0.0" not in json.dumps(after)
