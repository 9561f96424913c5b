"""Installs as separate processes: one operation per plugin, a killed holder never in anyone's
way, and `kill -9` at every phase boundary and at 40 random instants always recovers to a stable,
runnable state."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.catalogue import INSTALL_PHASES, Span
from contracts.layout import Layout
from runtime.install.journal import Journal
from runtime.install.lock import is_held
from runtime.install.phases import valid_crash_points
from tests.install_support import an_installer, assert_stable, publish_plugin

PLUGINOPS = str(Path(sys.executable).parent / "pluginops")
pytestmark = pytest.mark.slow


def wait_for(condition: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, example_registry: Path,
          signing_key: Ed25519PrivateKey) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("procs")
    registry = root / "registry"
    shutil.copytree(example_registry, registry)
    gate = root / "release-health"
    waiting = (f"import os, time\nGATE = {str(gate)!r}\n"
               "def run(inputs, ctx):\n    return {}\n"
               "def health(ctx):\n    deadline = time.time() + 30\n"
               "    while not os.path.exists(GATE) and time.time() < deadline:\n"
               "        time.sleep(0.01)\n    return True\n")
    for version in ("1.0.0", "2.0.0"):
        publish_plugin(registry, root / "src", signing_key, "gated", version, waiting)
    for version in ("1.0.0", "2.0.0"):
        folder = root / "bulky-src" / version
        folder.mkdir(parents=True)
        (folder / "plugin.json").write_text(json.dumps({
            "name": "bulky", "version": version, "type": "node", "host": "^2.0.0",
            "api": "4.0", "entrypoint": "main:run"}))
        (folder / "main.py").write_text(f"def run(inputs, ctx):\n    return {{'v': '{version}'}}\n"
                                        "def health(ctx):\n    return True\n")
        (folder / "data.bin").write_bytes(random.Random(version).randbytes(6 * 1024 * 1024))
        from runtime.host import this_host
        from runtime.registry.publish import publish
        publish(folder, registry, this_host(), signing_key)
    key = root / "trusted.pub"
    key.write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    template = root / "template"
    gate.touch()
    installer = an_installer(template, registry, signing_key)
    assert installer.install("bulky@1.0.0").state == "committed"
    assert installer.install("gated@1.0.0").state == "committed"
    installer.env.journal.close()
    gate.unlink()
    return {"registry": registry, "key": key, "template": template, "gate": gate}


def cli(setup: dict[str, Path], home: Path, *args: str, env: dict[str, str] | None = None,
        popen: bool = False) -> Any:
    command = [PLUGINOPS, *args, "--home", str(home), "--registry", str(setup["registry"]),
               "--trust", str(setup["key"])]
    full_env = {**os.environ, **(env or {})}
    if popen:
        return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=120)


def fresh_home(setup: dict[str, Path], tmp_path: Path, name: str = "home") -> Path:
    home = tmp_path / name
    shutil.copytree(setup["template"], home, symlinks=True)
    return home


def in_flight(home: Path) -> dict[str, Any] | None:
    done = subprocess.run([PLUGINOPS, "status", "gated", "--format", "json", "--home",
                           str(home)], capture_output=True, text=True, timeout=60)
    flight = json.loads(done.stdout)["plugins"][0]["in_flight"]
    return flight if flight and flight["phase"] == "health-check" else None


def test_two_concurrent_updates_give_one_success_and_one_clear_refusal(
        setup: dict[str, Path], tmp_path: Path) -> None:
    home = fresh_home(setup, tmp_path)
    first = cli(setup, home, "update", "gated", "--format", "json", popen=True)
    try:
        flight = wait_for(lambda: in_flight(home), what="the first update's health check")
        assert flight["line"] == "Updating gated 2.0.0 (phase 5/5: health-check)"
        second = cli(setup, home, "update", "gated", "--format", "json")
        assert second.returncode == 1
        error = json.loads(second.stdout)["error"]
        assert error["code"] == "OPERATION_IN_PROGRESS"
        assert f"update {flight['tx_id']} (pid {first.pid}) has held it for" in error["message"]
        setup["gate"].touch()
        out, _ = first.communicate(timeout=60)
        assert first.returncode == 0, out
        assert json.loads(out)["outcome"] == "committed"
        assert_stable(home, "gated", "2.0.0")
    finally:
        setup["gate"].touch()
        first.kill()
        setup["gate"].unlink()


def test_a_killed_holder_never_blocks_the_next_operation(setup: dict[str, Path],
                                                         tmp_path: Path) -> None:
    """A read shows the interrupted transaction and changes nothing; recovery runs where an
    operation (or `pluginops recover`) starts."""
    home = fresh_home(setup, tmp_path)
    first = cli(setup, home, "update", "gated", popen=True)
    flight = wait_for(lambda: in_flight(home), what="the first update's health check")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    def status() -> dict[str, Any]:
        done = subprocess.run([PLUGINOPS, "status", "gated", "--format", "json", "--home",
                               str(home)], capture_output=True, text=True, timeout=60)
        (item,) = json.loads(done.stdout)["plugins"]
        return dict(item)

    for _ in range(2):  # reading twice repairs nothing
        item = status()
        assert (item["state"], item["version"], item["in_flight"]) == \
            ("interrupted", "1.0.0", None)
        assert item["last_transaction"]["tx_id"] == flight["tx_id"]
        assert item["last_transaction"]["state"] == "running"
    recovered = subprocess.run([PLUGINOPS, "recover", "--format", "json", "--home", str(home)],
                               capture_output=True, text=True, timeout=60)
    assert json.loads(recovered.stdout) == {"repaired": [flight["tx_id"]]}
    item = status()
    assert (item["state"], item["version"], item["in_flight"]) == ("active", "1.0.0", None)
    assert item["last_transaction"]["error_code"] == "INTERRUPTED"
    setup["gate"].touch()
    try:
        assert_stable(home, "gated", "1.0.0")
        retry = cli(setup, home, "update", "gated")
        assert retry.returncode == 0, retry.stderr
        assert_stable(home, "gated", "2.0.0")
    finally:
        setup["gate"].unlink()


def test_making_an_installer_recovers_nothing_an_operation_recovers_first_and_traces_it(
        setup: dict[str, Path], tmp_path: Path) -> None:
    home = fresh_home(setup, tmp_path)
    done = cli(setup, home, "update", "bulky", env={"PLUGINOPS_CRASH_AT": "after:activate"})
    assert done.returncode == -signal.SIGKILL
    spans = InMemorySpanExporter()
    installer = an_installer(home, setup["registry"], None, spans=spans)
    try:
        assert [t.plugin for t in installer.env.journal.transactions(state="running")] == \
            ["bulky"]
        installer.history("bulky")
        installer.status("bulky")
        assert installer.env.journal.transactions(state="running") != []
        assert [s.name for s in spans.get_finished_spans()] == []
        # an operation: recovery first (the interrupted update is undone), then its own work
        outcome = installer.install("bulky@1.0.0")
        assert outcome.state == "noop", outcome.message  # 1.0.0 is active again
        assert installer.env.journal.transactions(state="running") == []
        [recovery] = [s for s in spans.get_finished_spans() if s.name == Span.INSTALL_RECOVER]
        assert recovery.attributes is not None
        assert recovery.attributes[Span.ATTR_REPAIRED] == 1
    finally:
        installer.env.journal.close()


def where_it_landed(home: Path) -> str:
    journal = Journal(home / "journal.db")
    try:
        latest = journal.transactions("bulky", limit=1)[0]
    finally:
        journal.close()
    if latest.operation != "update":
        return "before the transaction"
    if latest.state == "running":
        return latest.phase or "start"
    return f"after the commit ({latest.state})"


def check_after_crash(setup: dict[str, Path], home: Path) -> tuple[str | None, str]:
    """Recover as the next command does; the active version and where the kill landed.

    A child the killed process had just forked (its health check's worker, between fork and
    exec) shares the plugin lock's open file until it execs: recovery rightly waits for a lock
    that is held, so the next command is run once nothing holds it."""
    wait_for(lambda: not is_held(Layout(home).lock("bulky")),
             what="the killed update's last child to let go of the plugin lock")
    landed = where_it_landed(home)
    installer = an_installer(home, setup["registry"], None)
    installer.recover()
    versions = {s.plugin: s.version for s in installer.status()}
    installer.env.journal.close()
    version = versions.get("bulky")
    assert version in ("1.0.0", "2.0.0")
    assert_stable(home, "bulky", version)
    layout = Layout(home)
    assert not (home / "staging").exists() or not any((home / "staging").iterdir())
    if version == "1.0.0":
        assert not layout.version_dir("bulky", "2.0.0").exists()
    return version, landed


def expected_landing(point: str) -> str:
    """The phase the journal shows as current when the process died at `point`."""
    when, _, phase = point.partition(":")
    phase = phase.split(":")[0]
    if point == "mid:commit:after":
        return "after the commit (committed)"
    if phase == "commit":
        return INSTALL_PHASES[-1]
    if when == "before":
        index = INSTALL_PHASES.index(phase)
        return INSTALL_PHASES[index - 1] if index else "start"
    return phase


@pytest.mark.parametrize("point", valid_crash_points())
def test_kill_at_every_phase_boundary_recovers(setup: dict[str, Path], tmp_path: Path,
                                               point: str) -> None:
    home = fresh_home(setup, tmp_path)
    done = cli(setup, home, "update", "bulky", env={"PLUGINOPS_CRASH_AT": point})
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)
    version, landed = check_after_crash(setup, home)
    assert landed == expected_landing(point)
    assert version == ("2.0.0" if point == "mid:commit:after" else "1.0.0")
    history = an_installer(home, setup["registry"], None).history("bulky")[0]
    if version == "1.0.0":
        assert history["outcome"] == "rolled_back"
        assert history["error"]["code"] == "INTERRUPTED"


def reached(journal: sqlite3.Connection, phase: str) -> bool:
    """Whether bulky's update has reached `phase` (or gone past it, or ended), by the journal."""
    row = journal.execute("SELECT phase, state FROM transactions WHERE plugin = 'bulky' AND "
                          "operation = 'update' ORDER BY started_at DESC LIMIT 1").fetchone()
    if row is None or row[0] is None:
        return False
    if row[1] != "running" or row[0] not in INSTALL_PHASES:
        return True
    return INSTALL_PHASES.index(row[0]) >= INSTALL_PHASES.index(phase)


def wait_for_phase(process: subprocess.Popen[str], home: Path, phase: str) -> None:
    """Poll the journal (read-only, WAL) until the update shows `phase`; some phases last a
    few milliseconds, so the poll is tight. The deadline only bounds a broken run."""
    journal = sqlite3.connect(f"file:{home / 'journal.db'}?mode=ro", uri=True)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and not reached(journal, phase):
            assert time.monotonic() < deadline, f"the update never reached {phase}"
            time.sleep(0.001)
    finally:
        journal.close()


KILLS = 40  # about a second each: the suite's time budget, eight kills per phase on average


@pytest.mark.timeout(1200)  # 40 launches of the CLI; on a loaded machine each takes seconds
def test_kill_at_40_random_instants_always_recovers(setup: dict[str, Path],
                                                    tmp_path: Path) -> None:
    """Each kill picks a phase and an offset into it at random, and is timed from what the
    process is doing: the journal showing that phase, not a clock calibrated on another run."""
    rng = random.Random(20261125)
    landed: Counter[str] = Counter()
    outcomes: Counter[str | None] = Counter()
    for i in range(KILLS):
        home = fresh_home(setup, tmp_path, f"home{i}")
        target, offset = rng.choice(INSTALL_PHASES), rng.uniform(0.0, 0.02)
        process = cli(setup, home, "update", "bulky", popen=True)
        wait_for_phase(process, home, target)
        time.sleep(offset)  # how far into the phase the kill lands, not a wait for anything
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        version, where = check_after_crash(setup, home)
        landed[where] += 1
        outcomes[version] += 1
        shutil.rmtree(home)
    print(f"\nkills landed: {dict(landed)}; active afterwards: {dict(outcomes)}")
    inside = sum(n for where, n in landed.items() if where in INSTALL_PHASES)
    assert inside >= KILLS * 3 // 10, f"too few kills landed inside a phase: {dict(landed)}"
    assert len([where for where in landed if where in INSTALL_PHASES]) >= 3
