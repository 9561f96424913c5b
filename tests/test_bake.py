"""Baking an update: after its health check the new version serves a share of live executions
beside the version it replaced, and is promoted or rolled back on the evidence, with the
decision, its evidence and the update's correlation id in the bake record, the journal and the
audit log. Real sandboxed executions, the real installer, the supervisor ticked by the test."""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.layout import Layout
from contracts.outcomes import TransactionState
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from runtime.bake.canary import Canary
from runtime.bake.store import Bakes
from runtime.bake.supervisor import Supervisor, through
from runtime.bake.views import bake_line
from runtime.install.baking import BakeRequest
from runtime.install.service import Installer
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.executor import Executor
from tests.install_support import a_sandbox_executor, an_installer, assert_stable, publish_plugin
from tests.test_ui import sign_in

PLUGIN = "flaky"
FINE = 'def run(inputs, ctx):\n    return {"n": inputs["n"]}\n'
# healthy (no health hook fails), yet one execution in four raises
QUARTER_FAILING = ('def run(inputs, ctx):\n    if inputs["n"] % 4 == 0:\n'
                   '        raise RuntimeError("one in four")\n    return {"n": inputs["n"]}\n')


@dataclass
class World:
    home: Path
    installer: Installer
    executor: Executor
    canary: Canary
    supervisor: Supervisor
    audit: AuditLog

    def drive(self, executions: int) -> list[dict[str, Any]]:
        """Execute the plugin, ticking the supervisor every ten executions, until it decides."""
        for n in range(executions):
            self.executor.execute(PLUGIN, {"n": n})
            if n % 10 == 9:
                taken = self.supervisor.tick()
                if taken:
                    return taken
        return []

    def bake(self) -> Any:
        store = Bakes(Layout(self.home).bakes_db)
        try:
            return store.history(PLUGIN, 1)[0]
        finally:
            store.close()


@pytest.fixture
def world(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> World:
    for version, module in (("1.0.0", FINE), ("2.0.0", QUARTER_FAILING), ("3.0.0", FINE)):
        publish_plugin(writable_registry, tmp_path / "src", signing_key, PLUGIN, version, module)
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    assert installer.install(f"{PLUGIN}@1.0.0").state == TransactionState.COMMITTED
    executor = a_sandbox_executor(home, journal=installer.env.journal)
    canary = Canary(Layout(home).bakes_db, rng=random.Random(7))
    executor.deps.canary = canary
    audit = executor.deps.audit
    return World(home, installer, executor, canary,
                 Supervisor(canary, through(lambda: installer), installer.env.journal, audit),
                 audit)


def test_a_version_failing_a_quarter_of_its_executions_is_rolled_back_with_its_evidence(
        world: World) -> None:
    update = world.installer.update(f"{PLUGIN}@2.0.0", bake=BakeRequest(0.2, 100))
    assert update.state == TransactionState.COMMITTED  # its health check passed

    (taken,) = world.drive(1000)

    assert taken["decision"] == "roll_back" and taken["event"] == "errors"
    assert taken["code"] == Code.BAKE_REGRESSION and taken["bake_id"] == update.tx_id
    assert_stable(world.home, PLUGIN, "1.0.0")
    bake = world.bake()
    assert bake.state == "rolled_back" and bake.id == update.tx_id
    candidate, baseline = bake.candidate_arm, bake.baseline_arm
    assert candidate.errors > 0 and candidate.executions <= 80, candidate
    assert baseline.errors == 0 and baseline.executions > candidate.executions  # 80% of them
    assert bake_line(bake) == (f"Rolled back to v1.0.0: error ratio {candidate.error_ratio:.1%} "
                               f"against 0.0% after {candidate.executions} executions")
    journal = world.installer.env.journal
    kinds = [e.kind for e in journal.events(update.tx_id)]
    assert kinds[-2:] == ["bake_started", "bake_rolled_back"] and "committed" in kinds
    rollback_tx = bake.decision["rollback_tx"]
    (verdict,) = [e for e in journal.events(rollback_tx) if e.kind == "bake_verdict"]
    assert verdict.detail["bake_id"] == update.tx_id
    assert journal.transaction(rollback_tx).operation == "rollback"  # type: ignore[union-attr]
    world.audit.flush()
    (record,) = [r for r in world.audit.records() if r["kind"] == "bake.rolled_back"]
    assert record["correlation_id"] == update.tx_id and record["code"] == Code.BAKE_REGRESSION


def test_a_version_no_worse_is_promoted_after_its_judged_executions_on_both_versions(
        world: World) -> None:
    update = world.installer.update(f"{PLUGIN}@3.0.0", bake=BakeRequest(0.5, 60))
    (taken,) = world.drive(2000)

    assert taken["decision"] == "promote"
    bake = world.bake()
    assert bake.state == "promoted" and bake.candidate_arm.judged >= 60
    assert bake.baseline_arm.executions > 100  # the old version served the other half
    assert bake.thresholds is not None  # set from the old version's first executions
    assert_stable(world.home, PLUGIN, "3.0.0")
    kinds = [e.kind for e in world.installer.env.journal.events(update.tx_id)]
    assert kinds[-1] == "bake_promoted"
    assert bake_line(bake).startswith("Promoted 3.0.0: error ratio 0.0% against 0.0%")
    # once promoted, every execution runs the new version
    assert {world.executor.execute(PLUGIN, {"n": n}).version for n in range(20)} == {"3.0.0"}


def test_while_baking_both_versions_serve_and_another_operation_ends_the_bake(
        world: World) -> None:
    update = world.installer.update(f"{PLUGIN}@3.0.0", bake=BakeRequest(0.5, 10_000))
    served = {world.executor.execute(PLUGIN, {"n": n}).version for n in range(30)}
    assert served == {"1.0.0", "3.0.0"}

    rollback = world.installer.rollback(PLUGIN)  # a person decides instead
    assert rollback.state == TransactionState.COMMITTED
    bake = world.bake()
    assert bake.state == "ended" and bake.decision == {"by": rollback.tx_id, "reason": "rollback"}
    assert [e.kind for e in world.installer.env.journal.events(update.tx_id)][-1] == "bake_ended"
    assert {world.executor.execute(PLUGIN, {"n": n}).version for n in range(10)} == {"1.0.0"}
    assert world.supervisor.tick() == []


@pytest.mark.parametrize(("weight", "executions"), [(0.0, 10), (1.0, 10), (-0.1, 10), (0.1, 0)])
def test_a_bad_bake_request_is_refused_before_anything_changes(
        world: World, weight: float, executions: int) -> None:
    with pytest.raises(PluginopsError) as refused:
        world.installer.update(f"{PLUGIN}@3.0.0", bake=BakeRequest(weight, executions))
    assert refused.value.code == Code.BAKE_INVALID and refused.value.next_step
    assert_stable(world.home, PLUGIN, "1.0.0")
    assert Bakes(Layout(world.home).bakes_db).history(PLUGIN) == []


def test_a_first_install_cannot_bake(world: World) -> None:
    with pytest.raises(PluginopsError) as refused:
        world.installer.install("json-transform", bake=BakeRequest())
    assert refused.value.code == Code.BAKE_INVALID
    assert world.installer.env.journal.installed_version("json-transform") is None


def test_the_ui_shows_the_bake_on_the_update_and_its_cause_on_the_rollback(
        world: World) -> None:
    update = world.installer.update(f"{PLUGIN}@2.0.0", bake=BakeRequest(0.2, 100))
    tokens = TokenStore(world.home)
    app = create_app(ApiConfig(installer=lambda *_, **__: world.installer, tokens=tokens,
                               audit=world.audit, ui_home=world.home, session_secret=b"s" * 32))
    client = app.test_client()
    sign_in(client, tokens, "vera", "viewer")

    baking = client.get(f"/ui/transactions/{update.tx_id}").get_data(as_text=True)
    assert 'id="bake-line">Baking 2.0.0: 20% of executions, 0 so far' in baking
    assert 'http-equiv="refresh"' in baking  # it follows the bake while it runs

    world.drive(1000)
    bake = world.bake()
    decided = client.get(f"/ui/transactions/{update.tx_id}").get_data(as_text=True)
    assert f'id="bake-line">{html.escape(bake_line(bake))}' in decided
    assert 'http-equiv="refresh"' not in decided
    rollback = bake.decision["rollback_tx"]
    assert f'href="/ui/transactions/{rollback}"' in decided
    page = client.get(f"/ui/transactions/{rollback}").get_data(as_text=True)
    assert f'id="bake-cause">Asked for by the bake of {PLUGIN} 2.0.0' in page
    assert Code.BAKE_REGRESSION in page and "error ratio" in page
