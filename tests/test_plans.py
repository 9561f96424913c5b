"""An execution's plan (manifest, grants, worker spec) is computed once per installed version and
approvals state: an update, a rollback or an approval decided by any process is seen at the next
execution, and an approval that expires takes its grant with it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.layout import Layout
from runtime.install.journal import Journal
from runtime.sandbox.approvals import Approvals, Request
from runtime.sandbox.plans import Build, Plan, Plans
from runtime.sqlite import IN_MEMORY
from tests.install_support import a_sandbox_executor, an_installer, publish_plugin

SCOPE = "network:api.example.com"


def counting() -> tuple[list[str], Build]:
    """A build that records its calls (its plans carry nothing: only their reuse is tested)."""
    built: list[str] = []

    def build(plugin: str, now: float) -> Plan:
        built.append(plugin)
        return Plan(None, None, None)

    return built, build


def test_a_plan_is_kept_until_the_journal_or_the_approvals_commit(tmp_path: Path) -> None:
    journal, approvals = Journal(tmp_path / "journal.db"), Approvals(tmp_path / "approvals.db")
    plans = Plans((journal.path, approvals.path))
    built, build = counting()
    for _ in range(3):
        plans.get("p", 0.0, build)
    assert built == ["p"]
    with journal.atomic() as db:  # any commit: an install, update, rollback, uninstall
        db.execute("INSERT INTO installed VALUES ('q', '1.0.0', 'node', 'tx', 0, '{}')")
    plans.get("p", 0.0, build)
    assert built == ["p", "p"]
    other_process = Approvals(tmp_path / "approvals.db")  # another connection, as a CLI's
    other_process.request(Request("p", SCOPE, "1.0.0", "alice", "why", 0.0, "tx"))
    plans.get("p", 0.0, build)
    assert built == ["p", "p", "p"]


def test_a_plan_lapses_when_an_approval_it_relies_on_expires(tmp_path: Path) -> None:
    plans = Plans((tmp_path / "journal.db", tmp_path / "approvals.db"))
    Journal(tmp_path / "journal.db"), Approvals(tmp_path / "approvals.db")
    built: list[float] = []

    def build(plugin: str, now: float) -> Plan:
        built.append(now)
        return Plan(None, None, None, until=100.0)  # type: ignore[arg-type]

    plans.get("p", 10.0, build)
    plans.get("p", 99.9, build)
    plans.get("p", 100.0, build)
    assert built == [10.0, 100.0]


def test_databases_in_memory_are_not_watched_and_plans_are_computed_every_time() -> None:
    plans = Plans((IN_MEMORY, IN_MEMORY))
    built, build = counting()
    plans.get("p", 0.0, build)
    plans.get("p", 0.0, build)
    assert built == ["p", "p"]


@pytest.mark.slow
def test_an_update_made_elsewhere_is_what_the_next_execution_runs(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    for version in ("1.0.0", "1.1.0"):
        publish_plugin(writable_registry, tmp_path / "src", signing_key, "versioned", version,
                       f"def run(inputs, ctx):\n    return {{'version': {version!r}}}\n")
    installer = an_installer(home, writable_registry, signing_key)
    assert installer.install("versioned@1.0.0").state == "committed"
    executor = a_sandbox_executor(home)
    try:
        assert executor.execute("versioned", {}).output == {"version": "1.0.0"}
        assert executor.execute("versioned", {}).output == {"version": "1.0.0"}
        assert executor.plans.builds == 1
        assert installer.update("versioned").state == "committed"  # its own journal connection
        assert executor.execute("versioned", {}).output == {"version": "1.1.0"}
        assert executor.plans.builds == 2
        started = time.perf_counter()
        for _ in range(20):
            executor.execute("versioned", {})
        assert executor.plans.builds == 2, time.perf_counter() - started
    finally:
        executor.deps.pool.close()


@pytest.mark.slow
def test_a_policy_edited_while_the_runtime_runs_applies_from_the_next_execution(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "edited", "1.0.0",
                   "def run(inputs, ctx):\n    return {}\n")
    assert an_installer(home, writable_registry, signing_key).install("edited").state == \
        "committed"
    executor = a_sandbox_executor(home)
    try:
        before = executor.plan("edited", time.time()).spec.limits["wall_seconds"]
        policy = Layout(home).policy_file
        policy.write_text(yaml.safe_dump({"version": 1, "types": {
            "node": {"limits": {"wall_seconds": 1}}}}))
        assert before > 1
        assert executor.plan("edited", time.time()).spec.limits["wall_seconds"] == 1
        assert executor.execute("edited", {}).outcome == "success"
        policy.write_text("version: 1\ntypes: [not, a, mapping]\n")  # a bad hand edit
        assert executor.plan("edited", time.time()).spec.limits["wall_seconds"] == 1
    finally:
        executor.deps.pool.close()
