"""No root in a worker: a runtime started as root runs each plugin's workers under the plugin's
own unprivileged uid and gid, with no supplementary group, no capability and `no_new_privs`, so
the kernel's per-user task limit binds and the runtime's state and other plugins' workers are
another user's. Each test switches the other layers off where it can, so that what it shows is
the uid's doing and not Landlock's, seccomp's or the audit hooks'."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.layout import Layout
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.executor import Executor
from runtime.sandbox.policy import load_policy
from tests.install_support import a_sandbox_executor, an_installer, publish_plugin
from tests.test_sandbox_entries import processes_of

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.geteuid() != 0, reason="only a root runtime changes a worker's uid")]

# A range no other test's homes use (they take the default), so the task counts below are this
# test's alone even while other tests run beside it.
FIRST_UID = 1_900_000 + (os.getpid() % 1000) * 64


def status_of(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, value in (line.split(":", 1) for line in lines)}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def configure(home: Path, layers: list[str], tasks: int = 256) -> None:
    (home / "runtime.yaml").write_text(yaml.safe_dump({"version": 1, "sandbox": {
        "layers": layers, "worker_uids": {"first": FIRST_UID, "count": 64},
        "tasks_per_plugin": tasks}}))


@pytest.fixture
def installed(home: Path, tmp_path: Path, writable_registry: Path,
              signing_key: Ed25519PrivateKey) -> Iterator[dict[str, Any]]:
    """Plugins that act on what their uid can reach, and an executor over them."""
    def install(name: str, module: str, **manifest: Any) -> None:
        publish_plugin(writable_registry, tmp_path / "src", signing_key, name, "1.0.0", module,
                       **manifest)
        outcome = an_installer(home, writable_registry, signing_key, policy=load_policy(home),
                               approvals=Approvals(home / "approvals.db")).install(name)
        assert outcome.state == "committed", outcome.message

    executors: list[Executor] = []

    def executor() -> Executor:
        executors.append(a_sandbox_executor(home))
        return executors[-1]

    yield {"install": install, "executor": executor}
    for made in executors:
        made.deps.pool.close()


IDLE = "def run(inputs, ctx):\n    return {}\n"


def test_every_worker_runs_under_its_plugins_own_unprivileged_uid(
        home: Path, installed: dict[str, Any]) -> None:
    configure(home, ["rlimits", "landlock", "seccomp", "audit"])
    installed["install"]("first", IDLE)
    installed["install"]("second", IDLE)
    executor = installed["executor"]()
    uids = {}
    for plugin in ("first", "second"):
        assert executor.execute(plugin, {}).outcome == "success"
        [pid] = processes_of(plugin, home)  # the warm worker, idle in the pool
        status = status_of(pid)
        real, effective, saved, fs = status["Uid"].split()
        assert real == effective == saved == fs != "0"
        assert len(set(status["Gid"].split())) == 1 and status["Gid"].split()[0] != "0"
        assert status["Groups"] == ""
        for capabilities in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"):
            assert int(status[capabilities], 16) == 0, capabilities
        assert status["NoNewPrivs"] == "1"
        uids[plugin] = int(real)
    assert uids == {"first": FIRST_UID, "second": FIRST_UID + 1}
    # the assignment is durable: a new executor over the same home finds the same uids
    again = installed["executor"]()
    assert again.deps.identities.for_plugin("second").uid == FIRST_UID + 1  # type: ignore[union-attr]


def test_the_runtimes_state_is_unreadable_to_a_worker_with_every_other_layer_off(
        home: Path, installed: dict[str, Any]) -> None:
    configure(home, ["rlimits"])  # no Landlock, no seccomp, no audit hooks
    (home / "keys").mkdir(exist_ok=True)
    installed["install"]("snoop", "import os\n"
                         "def run(inputs, ctx):\n"
                         "    read, refused = [], []\n"
                         "    for path in inputs['paths']:\n"
                         "        try:\n"
                         "            open(path, 'rb').read(1)\n"
                         "            read.append(path)\n"
                         "        except PermissionError:\n"
                         "            refused.append(path)\n"
                         "    return {'read': read, 'refused': refused}\n")
    executor = installed["executor"]()
    executor.execute("snoop", {"paths": []})  # the metering and audit stores now exist too
    secrets = sorted(str(p) for p in home.iterdir()
                     if p.suffix in (".db", ".log") or p.name.endswith(("-wal", "-shm")))
    assert {Path(p).name for p in secrets} >= {"journal.db", "approvals.db", "metering.db",
                                                Layout(home).identities_db.name}
    for path in secrets:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    result = executor.execute("snoop", {"paths": secrets})
    assert result.outcome == "success", result.error
    assert result.output == {"read": [], "refused": secrets}


def test_a_worker_cannot_take_root_back(home: Path, installed: dict[str, Any]) -> None:
    configure(home, ["rlimits"])
    marker = home.parent / "root-again"
    installed["install"]("climber", f"import os\nMARKER = {str(marker)!r}\n"
                         "def run(inputs, ctx):\n"
                         "    for attempt in (lambda: os.setuid(0), lambda: os.setresuid(0, 0, 0),"
                         " lambda: os.setgroups([0]), lambda: os.setgid(0)):\n"
                         "        try:\n"
                         "            attempt()\n"
                         "        except PermissionError:\n"
                         "            continue\n"
                         "        open(MARKER, 'w').write(str(os.getuid()))\n"
                         "    return {'uid': os.getuid()}\n")
    result = installed["executor"]().execute("climber", {})
    assert result.outcome == "success", result.error
    assert result.output == {"uid": FIRST_UID}
    assert not marker.exists()


def test_a_worker_cannot_signal_another_plugins_worker(
        home: Path, installed: dict[str, Any]) -> None:
    configure(home, ["rlimits"])
    installed["install"]("victim", IDLE)
    installed["install"]("killer", "import os, signal\n"
                         "def run(inputs, ctx):\n"
                         "    try:\n"
                         "        os.kill(inputs['pid'], signal.SIGKILL)\n"
                         "    except PermissionError:\n"
                         "        return {'killed': False}\n"
                         "    return {'killed': True}\n")
    executor = installed["executor"]()
    assert executor.execute("victim", {}).outcome == "success"
    [victim] = processes_of("victim", home)
    result = executor.execute("killer", {"pid": victim})
    assert result.output == {"killed": False}
    assert processes_of("victim", home) == [victim]
    os.kill(victim, 0)  # still there, for the runtime


def test_the_task_limit_binds_on_a_plugin_allowed_to_start_processes(
        home: Path, installed: dict[str, Any]) -> None:
    tasks = 12
    configure(home, ["rlimits", "landlock", "seccomp", "audit"], tasks=tasks)
    (home / "policy.yaml").write_text(yaml.safe_dump({
        "version": 1, "plugins": {"bomb": {"auto_approve": ["process:spawn"]}}}))
    installed["install"](
        "bomb", "import os, time\n"
        "def run(inputs, ctx):\n"
        "    started = 0\n"
        "    while started < 1000:\n"
        "        try:\n"
        "            pid = os.fork()\n"
        "        except BlockingIOError as exc:\n"
        "            return {'started': started, 'stopped_by': exc.strerror}\n"
        "        if pid == 0:\n"
        "            time.sleep(3600)\n"
        "            os._exit(0)\n"
        "        started += 1\n"
        "    return {'started': started, 'stopped_by': None}\n",
        permissions={"processes": True},
        sandbox={"elevated": [{"kind": "process", "target": "spawn",
                               "justification": "Runs a helper binary."}]})
    result = installed["executor"]().execute("bomb", {})
    assert result.outcome == "success", result.error
    assert result.output is not None
    # the worker's own two tasks (its thread and the runtime watch) count against the cap
    assert result.output["stopped_by"] == "Resource temporarily unavailable"
    assert 0 < result.output["started"] <= tasks - 2
    assert processes_of("bomb", home) == []  # and everything it started ended with the execution


def test_a_home_the_worker_cannot_enter_is_refused_with_the_folder_to_open(
        tmp_path: Path, installed: dict[str, Any], home: Path) -> None:
    configure(home, ["rlimits", "landlock", "seccomp", "audit"])
    installed["install"]("walled", IDLE)
    os.chmod(tmp_path, 0o700)
    from contracts.errors import PluginopsError

    try:
        with pytest.raises(PluginopsError) as refused:
            installed["executor"]().execute("walled", {})
    finally:
        os.chmod(tmp_path, 0o711)
    assert refused.value.code == "SANDBOX_IDENTITY_UNREACHABLE"
    assert f"folder {tmp_path} (0o700)" in refused.value.message
    assert "chmod o+x" in refused.value.next_step


def test_a_runtime_that_is_not_root_keeps_its_own_uid_and_says_so(home: Path) -> None:
    pid = os.fork()
    if pid == 0:  # a child that gives up root, as an unprivileged runtime would be
        try:
            os.setresuid(FIRST_UID + 63, FIRST_UID + 63, FIRST_UID + 63)
            from runtime.sandbox.identity import IdentityBook
            from runtime.sandbox.layers import identity

            book = IdentityBook(home / "x.db", FIRST_UID, 64, 64)
            ok = book.for_plugin("any") is None and identity()["mechanism"] == "runtime-uid" \
                and not (home / "x.db").exists()
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_command_line_hands_its_workers_what_they_need_under_a_strict_umask(
        tmp_path: Path, example_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    """An operator whose shell has `umask 077`: the installed package, the run folders and the
    input files are still reachable by the plugin's uid, and the state files still private."""
    from cryptography.hazmat.primitives import serialization

    home = tmp_path / "strict"
    trust = tmp_path / "publisher.pub"
    trust.write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "cov.json").write_text('{"totals": {"covered_lines": 9, "num_statements": 10}}')
    pluginops = str(Path(sys.executable).parent / "pluginops")

    def strictly(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([pluginops, *args, "--home", str(home)], capture_output=True,
                              text=True, timeout=120, preexec_fn=lambda: os.umask(0o077))

    installed = strictly("install", "coverage-gate", "--registry", str(example_registry),
                         "--trust", str(trust))
    assert installed.returncode == 0, installed.stderr
    ran = strictly("run", "coverage-gate", "--format", "json",
                   "--input", json.dumps({"report": "cov.json", "min": 0.8}),
                   "--input-file", f"cov.json={tmp_path / 'cov.json'}")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["outcome"] == "success" and result["output"]["passed"] is True, result
    assert stat.S_IMODE(os.stat(home / "journal.db").st_mode) == 0o600
