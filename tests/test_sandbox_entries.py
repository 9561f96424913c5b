"""Plugin code runs only inside its sandbox, whatever door it comes through: the same hostile
statements as in `run`, placed in a `health()` hook or at import time, are denied at install,
audited, and fail the health-check phase with the denial as its reason; nothing a plugin starts
outlives the health check or execution that started it. Each attack is judged by its side
effect (file not written, connection not made, process not left), not by the runtime's word."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.install.journal import Journal
from runtime.install.service import Installer
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.containment import Containment
from runtime.sandbox.policy import load_policy
from runtime.sandbox.pool import WorkerPool
from tests.install_support import a_sandbox_executor, an_installer, assert_stable, publish_plugin
from tests.sandbox_support import Listener

pytestmark = pytest.mark.slow



# One statement each, the same attacks as tests/test_sandbox_attacks.py's `run` bodies.
ATTACKS = {
    "write-outside": "open(MARKER, 'w').write('x')",
    "read-secret": "open(SECRET).read()",
    "read-runtime-state": "open(JOURNAL, 'rb').read()",
    "connect": "import socket; socket.create_connection(('127.0.0.1', PORT), timeout=1)",
    "subprocess": "import subprocess; subprocess.run(['touch', MARKER])",
    "os-system": "os.system('touch ' + MARKER)",
    "ctypes": "import ctypes; ctypes.CDLL(None).system(('touch ' + MARKER).encode())",
    "fork": "os.fork()",
    "resolve": "import socket; socket.getaddrinfo('localhost', 80)",
    "posixsubprocess": "import _posixsubprocess",
    "take-root": "os.setuid(0); open(MARKER, 'w').write('root')",
    "read-audit-log": "open(AUDIT, 'rb').read()",
    "signal-runtime": "import signal; os.kill(os.getppid(), signal.SIGTERM)",
    "runtime-memory": "open('/proc/%d/mem' % os.getppid(), 'rb').read(1)",
    "ptrace-runtime": "import ctypes; ctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0)",
    "runtime-environment": "open('/proc/%d/environ' % os.getppid(), 'rb').read()",
}


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[dict[str, Any]]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("hunter2")
    listener = Listener()
    home = tmp_path / "home"
    home.mkdir()
    yield {"home": home, "marker": outside / "pwned", "secret": outside / "secret.txt",
           "listener": listener, "src": tmp_path / "src"}
    listener.close()


def module_with(stage: dict[str, Any], where: str, statement: str) -> str:
    constants = (f"import os\nMARKER = {str(stage['marker'])!r}\n"
                 f"SECRET = {str(stage['secret'])!r}\n"
                 f"JOURNAL = {str(stage['home'] / 'journal.db')!r}\n"
                 f"AUDIT = {str(stage['home'] / 'audit.log')!r}\n"
                 f"PORT = {stage['listener'].port}\n")
    run = "def run(inputs, ctx):\n    return {}\n"
    if where == "import":
        return constants + statement + "\n" + run
    return constants + run + f"def health(ctx):\n    {statement}\n    return True\n"


@pytest.mark.parametrize("where", ["health", "import"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_health_hook_or_import_is_denied_audited_and_rolled_back(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey,
        attack: str, where: str) -> None:
    name = f"evil-{where}-{attack}"
    publish_plugin(writable_registry, stage["src"], signing_key, name, "1.0.0",
                   module_with(stage, where, ATTACKS[attack]))
    outcome = an_installer(stage["home"], writable_registry, signing_key).install(name)
    assert outcome.state == "rolled_back", outcome.message
    assert outcome.failure is not None and outcome.failure.phase == "health-check"
    assert outcome.failure.code == "HEALTH_CHECK_DENIED", outcome.failure.message
    assert not stage["marker"].exists(), "the side effect happened"
    assert stage["listener"].accepted == 0, "the listener got a connection"
    assert_stable(stage["home"], name, None)
    denials = [r for r in AuditLog(stage["home"] / "audit.log").records()
               if r.get("kind") == "denial" and r.get("plugin") == name]
    assert denials and denials[0]["entry"] == "health-check"
    assert f"{denials[0]['operation']} {denials[0]['target']}" in outcome.failure.message


def test_a_health_hook_that_hangs_times_out_and_rolls_back(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    publish_plugin(writable_registry, stage["src"], signing_key, "hangs", "1.0.0",
                   "import time\ndef run(inputs, ctx):\n    return {}\n"
                   "def health(ctx):\n    time.sleep(3600)\n")
    installer = an_installer(stage["home"], writable_registry, signing_key, health_timeout=1.0)
    outcome = installer.install("hangs")
    assert outcome.state == "rolled_back"
    assert outcome.failure is not None and outcome.failure.code == "HEALTH_CHECK_FAILED"
    assert "timed out after 1 s" in outcome.failure.message


def test_a_healthy_hook_sees_its_sandbox_context(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    """The hook gets the same ctx as an execution: a scratch folder it may write, a logger."""
    publish_plugin(writable_registry, stage["src"], signing_key, "tidy", "1.0.0",
                   "import os\ndef run(inputs, ctx):\n    return {}\n"
                   "def health(ctx):\n    path = os.path.join(str(ctx.scratch), 'probe')\n"
                   "    open(path, 'w').write('ok')\n    ctx.log.info('checked')\n"
                   "    return open(path).read() == 'ok'\n")
    outcome = an_installer(stage["home"], writable_registry, signing_key).install("tidy")
    assert outcome.state == "committed", outcome.message


# --- nothing outlives its work --------------------------------------------------------------

SPAWNER = """import os, time

def _linger():
    time.sleep(3600)
    os._exit(0)

def _daemon():
    # double fork and setsid: the grandchild leaves the worker's process group and session
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            _linger()
        os._exit(0)
    os.wait()
    if os.fork() == 0:  # and a plain child that simply stays
        _linger()

def run(inputs, ctx):
    _daemon()
    if inputs.get('hang'):
        time.sleep(3600)
    return {{'started': True}}

def health(ctx):
    _daemon()
    return {hang_in_health}
"""


def processes_of(plugin: str, home: Path) -> list[int]:
    """Live processes running a worker of this plugin from this home, or forked from one (a
    fork keeps the worker's command line, which names the plugin and its package folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"runtime.sandbox.worker_main" in text and f'"plugin": "{plugin}"'.encode() in text \
                and str(home.resolve()).encode() in text and state != "Z":
            found.append(int(cmdline.parent.name))
    return found


def spawner_installer(stage: dict[str, Any], registry: Path, key: Ed25519PrivateKey,
                      **overrides: Any) -> Installer:
    """An installer under the home's org policy (which auto-approves the spawner's scope)."""
    home = stage["home"]
    return an_installer(home, registry, key, policy=load_policy(home),
                        approvals=Approvals(home / "approvals.db"), **overrides)


def spawner(stage: dict[str, Any], registry: Path, key: Ed25519PrivateKey, name: str,
            hang_in_health: bool = False) -> None:
    (stage["home"] / "policy.yaml").write_text(yaml.safe_dump({
        "version": 1, "plugins": {name: {"auto_approve": ["process:spawn"],
                                          "limits": {"wall_seconds": 2}}}}))
    body = SPAWNER.format(hang_in_health="__import__('time').sleep(3600)"
                          if hang_in_health else "True")
    publish_plugin(registry, stage["src"], key, name, "1.0.0", body,
                   permissions={"processes": True},
                   sandbox={"elevated": [{"kind": "process", "target": "spawn",
                                          "justification": "Runs a helper binary."}]})


def test_processes_a_health_hook_starts_end_with_the_health_check(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    spawner(stage, writable_registry, signing_key, "spawner")
    outcome = spawner_installer(stage, writable_registry, signing_key).install("spawner")
    assert outcome.state == "committed", outcome.message
    assert processes_of("spawner", stage["home"]) == []


def test_a_hung_health_hook_and_its_helpers_all_end_at_the_timeout(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    spawner(stage, writable_registry, signing_key, "hung-spawner", hang_in_health=True)
    installer = spawner_installer(stage, writable_registry, signing_key, health_timeout=2.0)
    outcome = installer.install("hung-spawner")
    assert outcome.state == "rolled_back"
    assert processes_of("hung-spawner", stage["home"]) == []


@pytest.mark.parametrize("mechanism", ["cgroup", "subreaper"])
@pytest.mark.parametrize("hang", [False, True], ids=["returns", "times out"])
def test_processes_an_execution_starts_end_with_the_execution(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey,
        hang: bool, mechanism: str) -> None:
    spawner(stage, writable_registry, signing_key, "exec-spawner")
    assert spawner_installer(stage, writable_registry, signing_key).install(
        "exec-spawner").state == "committed"
    # /proc takes no new folder: the containment falls back to the subreaper
    containment = Containment(Path("/proc") if mechanism == "subreaper" else None)
    assert containment.mechanism == mechanism
    executor = a_sandbox_executor(stage["home"])
    executor.deps.pool = WorkerPool(containment=containment)
    try:
        result = executor.execute("exec-spawner", {"hang": hang})
        assert result.outcome == ("timeout" if hang else "success"), result.error
        assert processes_of("exec-spawner", stage["home"]) == []
    finally:
        executor.deps.pool.close()


def test_refused_executions_leave_no_worker_behind(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    from contracts.errors import OperationFailed

    publish_plugin(writable_registry, stage["src"], signing_key, "gate-like", "1.0.0",
                   "def run(inputs, ctx):\n    return {}\n", type="quality_gate",
                   capabilities={"requires": ["inputs"]},
                   permissions={"filesystem": [{"path": "$inputs", "mode": "r"}]})
    assert an_installer(stage["home"], writable_registry, signing_key).install(
        "gate-like").state == "committed"
    executor = a_sandbox_executor(stage["home"])
    for _ in range(3):
        with pytest.raises(OperationFailed) as refused:
            executor.execute("gate-like", {}, {"../escape": b"x"})
        assert refused.value.code == "INPUT_NAME_INVALID"
    assert processes_of("gate-like", stage["home"]) == []
    executor.deps.pool.close()




def test_the_journal_records_the_denial_as_the_rollback_reason(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    publish_plugin(writable_registry, stage["src"], signing_key, "snoop-health", "1.0.0",
                   module_with(stage, "health", ATTACKS["read-secret"]))
    an_installer(stage["home"], writable_registry, signing_key).install("snoop-health")
    journal = Journal(stage["home"] / "journal.db")
    try:
        [tx] = journal.transactions("snoop-health")
        assert tx.error_code == "HEALTH_CHECK_DENIED"
        [rolled_back] = [e for e in journal.events(tx.id) if e.kind == "rolled_back"]
        assert rolled_back.detail["reason"] == "HEALTH_CHECK_DENIED"
        assert rolled_back.phase == "health-check"
    finally:
        journal.close()


def test_a_runtime_killed_mid_health_check_leaves_no_worker_or_helper(
        stage: dict[str, Any], writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    """The worker watches its runtime: killed with `kill -9` while a health hook hangs with
    helpers started, the runtime leaves nothing behind once its worker notices."""
    spawner(stage, writable_registry, signing_key, "orphan-maker", hang_in_health=True)
    trusted = stage["home"].parent / "trusted.pub"
    trusted.write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    cli = subprocess.Popen(
        [str(Path(sys.executable).parent / "pluginops"), "install", "orphan-maker", "--home",
         str(stage["home"]), "--registry", str(writable_registry), "--trust", str(trusted)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(processes_of("orphan-maker", stage["home"])) < 3:  # the worker and two helpers
            assert time.monotonic() < deadline and cli.poll() is None, "never started"
            time.sleep(0.02)
    finally:
        cli.kill()
        cli.wait()
    deadline = time.monotonic() + 10
    while processes_of("orphan-maker", stage["home"]):
        left = processes_of("orphan-maker", stage["home"])
        assert time.monotonic() < deadline, f"left behind: {left}"
        time.sleep(0.05)
