"""The attack catalogue: hostile plugins, each blocked, its side effect proven absent, an audit
record written, and the host unharmed. The bundled examples run under their profiles with no
denial. Kernel layers are also shown alone, with the audit hooks switched off."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from contracts.catalogue import POLICY_DENIALS
from contracts.layout import Layout
from runtime.install.journal import Journal
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.executor import Executor, ExecutorDeps
from runtime.sandbox.home import identity_book
from runtime.sandbox.metering import DailyMeter
from runtime.sandbox.policy import load_policy
from runtime.sandbox.pool import WorkerPool
from runtime.sandbox.settings import RuntimeSettings
from runtime.telemetry.durable import register_durable_metrics
from runtime.telemetry.metrics import Metrics
from runtime.telemetry.tracing import make_tracer_provider
from tests.install_support import an_installer, publish_plugin
from tests.sandbox_support import Listener, model_reply, serving

pytestmark = pytest.mark.slow
SECRET = "hunter2-do-not-leak"



def hostile(body: str) -> str:
    return "import os, sys\n" + f"def run(inputs, ctx):\n{body}\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, example_registry: Path,
          signing_key: Ed25519PrivateKey) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("sandbox")
    outside = root / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text(SECRET)
    marker = outside / "pwned"
    listener = Listener()
    registry = root / "registry"
    shutil.copytree(example_registry, registry)
    home = root / "home"
    home.mkdir()
    (home / "policy.yaml").write_text(yaml.safe_dump({"version": 1, "types": {
        "node": {"limits": {"wall_seconds": 2, "cpu_seconds": 2, "memory_mb": 256}}}}))
    attacks = {
        "read-secret": f"    return {{'s': open({str(secret)!r}).read()}}",
        "write-outside": f"    open({str(marker)!r}, 'w').write('x')\n    return {{}}",
        "connect": f"    import socket\n    socket.create_connection(('127.0.0.1', "
                   f"{listener.port}), timeout=1)\n    return {{}}",
        "resolve": "    import socket\n    return {'a': str(socket.getaddrinfo('localhost', 80))}",
        "subprocess": f"    import subprocess\n    subprocess.run(['touch', {str(marker)!r}])\n"
                      "    return {}",
        "os-system": f"    os.system('touch {marker}')\n    return {{}}",
        "posixsubprocess": "    import _posixsubprocess\n    return {}",
        "ctypes": f"    import ctypes\n    ctypes.CDLL(None).system(b'touch {marker}')\n"
                  "    return {}",
        "fork-bomb": "    while True:\n        os.fork()",
        "memory-hog": "    hog = bytearray(1 << 31)\n    return {'n': len(hog)}",
        "cpu-spin": "    while True:\n        pass",
        "endless-sleep": "    import time\n    time.sleep(3600)\n    return {}",
        "env-secrets": "    return {'env': dict(os.environ)}",
        "other-plugin": "    import glob\n    hits = glob.glob(inputs['target'])\n"
                        "    open(inputs['target'], 'a').write('# owned')\n    return {}",
        "signal-host": "    import signal\n"
                       "    os.kill(os.getppid(), signal.SIGKILL)\n    return {}",
        "take-root": f"    os.setuid(0)\n    open({str(marker)!r}, 'w').write('root')\n"
                     "    return {}",
        "runtime-state": f"    return {{'j': str(open({str(home / 'journal.db')!r}, 'rb')"
                         ".read(100))}",
        "raw-socket": "    import ctypes\n"
                      "    return {'rc': ctypes.CDLL(None).syscall(41, 2, 1, 0)}",
    }
    for name, body in attacks.items():
        publish_plugin(registry, root / "src", signing_key, f"evil-{name}", "1.0.0",
                       hostile(body))
    agent = ("def run(inputs, ctx):\n"
             "    if inputs.get('tool'):\n"
             "        return {'r': ctx.tools.call(inputs['tool'], {})}\n"
             "    return {'t': ctx.llm.complete('hi', max_tokens=inputs['max_tokens']).text}\n")
    publish_plugin(registry, root / "src", signing_key, "evil-agent", "1.0.0", agent,
                   type="agent", capabilities={"requires": ["llm", "tools"]},
                   permissions={"tools": ["calculator"],
                                "budget": {"tokens_per_execution": 500}})
    fetcher = ("def run(inputs, ctx):\n"
               "    r = ctx.http.get(inputs['url'])\n    return {'status': r.status_code}\n")
    publish_plugin(registry, root / "src", signing_key, "evil-fetch", "1.0.0", fetcher,
                   type="integration", capabilities={"requires": ["http"]},
                   permissions={"network": ["status.example.com"]})
    installer = an_installer(home, registry, signing_key)
    names = [f"evil-{n}" for n in attacks] + ["evil-agent", "evil-fetch", "json-transform",
                                             "text-stats", "http-status-check",
                                             "webhook-notify", "research-agent",
                                             "coverage-gate", "lint-report-gate"]
    for name in names:
        outcome = installer.install(name)
        assert outcome.state == "committed", (name, outcome.message)
    os.environ["PLUGINOPS_TEST_SECRET"] = SECRET
    with serving(model_reply) as (model_addr, model_calls), \
            serving(lambda r: (200, {"components": [{"name": "api", "status": "operational"}],
                                     "results": ["x"]})) as (stub_addr, stub_calls):
        settings = RuntimeSettings.model_validate({
            "egress": {"resolve": {"status.example.com": stub_addr,
                                   "hooks.example.com": stub_addr}},
            "model": {"base_url": f"http://{model_addr}"},
            "tools": {"web_search": {"url": f"http://{stub_addr}/search"}}})
        yield {"home": home, "settings": settings, "secret": secret, "marker": marker,
               "listener": listener, "model_calls": model_calls, "stub_calls": stub_calls}
    os.environ.pop("PLUGINOPS_TEST_SECRET", None)
    listener.close()


def executor_for(world: dict[str, Any], settings: RuntimeSettings | None = None) -> Executor:
    home = world["home"]
    layout = Layout(home)
    metrics = Metrics(CollectorRegistry())
    register_durable_metrics(metrics.registry, layout)  # denials are counted from the audit log
    return Executor(ExecutorDeps(
        layout=layout, journal=Journal(layout.journal), approvals=Approvals(home / "approvals.db"),
        policy=load_policy(home), settings=settings or world["settings"],
        metrics=metrics, tracer=make_tracer_provider({}).get_tracer("t"),
        audit=AuditLog(home / "audit.log"), meter=DailyMeter(home / "metering.db"),
        identities=identity_book(home), pool=WorkerPool()))


ATTACKS = [
    pytest.param("read-secret", {}, "denied", "file.read", id="read a secret outside its folder"),
    pytest.param("write-outside", {}, "denied", "file.write", id="write outside scratch"),
    pytest.param("connect", {}, "denied", "network", id="connect to a host"),
    pytest.param("resolve", {}, "denied", "network", id="resolve a name"),
    pytest.param("subprocess", {}, "denied", "process", id="spawn through subprocess"),
    pytest.param("os-system", {}, "denied", "process", id="spawn through os.system"),
    pytest.param("posixsubprocess", {}, "denied", "process", id="spawn through _posixsubprocess"),
    pytest.param("ctypes", {}, "denied", "native-code", id="spawn through ctypes"),
    pytest.param("fork-bomb", {}, "denied", "process", id="fork bomb"),
    pytest.param("memory-hog", {}, "denied", "memory", id="memory hog"),
    pytest.param("cpu-spin", {}, "timeout", None, id="CPU spin"),
    pytest.param("endless-sleep", {}, "timeout", None, id="endless sleep"),
    pytest.param("signal-host", {}, "denied", "signal", id="kill the host"),
    pytest.param("take-root", {}, "denied", "kernel", id="change its uid back to root"),
    pytest.param("runtime-state", {}, "denied", "file.read", id="read the runtime's journal"),
    pytest.param("agent", {"max_tokens": 100_000}, "denied", "tokens", id="overspend tokens"),
    pytest.param("agent", {"tool": "shell"}, "denied", "tool", id="call a tool not allowed"),
    pytest.param("fetch", {"url": "http://attacker.example.net/x"}, "denied", "network",
                 id="reach a domain not listed"),
]


@pytest.mark.parametrize(("attack", "inputs", "outcome", "operation"), ATTACKS)
def test_hostile_plugin_is_stopped_and_audited(world: dict[str, Any], attack: str,
                                               inputs: dict[str, Any], outcome: str,
                                               operation: str | None) -> None:
    executor = executor_for(world)
    model_requests = len(world["model_calls"].requests)
    try:
        result = executor.execute(f"evil-{attack}", inputs)
    finally:
        executor.deps.pool.close()
    assert result.outcome == outcome, (result.error, result.denials)
    assert len(world["model_calls"].requests) == model_requests, "the model was called"
    assert not world["marker"].exists(), "the side effect happened"
    assert world["listener"].accepted == 0, "the listener got a connection"
    assert SECRET not in json.dumps(result.to_dict())
    if operation is not None:
        assert result.denials and result.denials[0]["operation"] == operation, result.denials
        records = [r for r in AuditLog(world["home"] / "audit.log").records()
                   if r.get("correlation_id") == result.correlation_id]
        assert records and records[0]["operation"] == operation
        assert {"plugin", "version", "profile", "rule", "target", "time"} <= set(records[0])
        registry = executor.deps.metrics.registry
        assert registry.get_sample_value(POLICY_DENIALS.name, {
            "plugin": f"evil-{attack}", "profile": records[0]["profile"],
            "operation": operation}) == 1
    assert AuditLog(world["home"] / "audit.log").verify().ok


def test_the_environment_is_scrubbed(world: dict[str, Any]) -> None:
    executor = executor_for(world)
    try:
        result = executor.execute("evil-env-secrets", {})
    finally:
        executor.deps.pool.close()
    assert result.outcome == "success"
    assert result.output is not None
    assert set(result.output["env"]) <= {"PATH", "LANG", "PYTHONDONTWRITEBYTECODE", "LC_CTYPE"}
    assert SECRET not in json.dumps(result.output)


def test_another_plugins_files_stay_untouched(world: dict[str, Any]) -> None:
    target = Layout(world["home"]).version_dir("json-transform", "1.2.0") / "transform.py"
    before = target.read_bytes()
    executor = executor_for(world)
    try:
        result = executor.execute("evil-other-plugin", {"target": str(target)})
    finally:
        executor.deps.pool.close()
    assert result.outcome == "denied"
    assert result.denials[0]["operation"] in ("file.read", "file.write")
    assert target.read_bytes() == before


def test_the_kernel_holds_without_the_audit_hooks(world: dict[str, Any]) -> None:
    kernel_only = world["settings"].model_copy(update={"sandbox": world["settings"].sandbox
                                                       .model_copy(update={"layers": [
                                                           "rlimits", "landlock", "seccomp"]})})
    executor = executor_for(world, kernel_only)
    try:
        raw = executor.execute("evil-raw-socket", {})
        secret = executor.execute("evil-read-secret", {})
        spawn = executor.execute("evil-os-system", {})
    finally:
        executor.deps.pool.close()
    assert raw.outcome == "success" and raw.output == {"rc": -1}, "seccomp refused socket()"
    assert secret.outcome == "denied" and secret.denials[0]["rule"] == "landlock/seccomp"
    assert SECRET not in json.dumps(secret.to_dict())
    assert spawn.outcome in ("success", "denied")  # os.system reports failure, or raises
    assert not world["marker"].exists(), "seccomp refused the fork and exec"


EXAMPLES = [
    pytest.param("json-transform", {"record": {"a": {"b": 2}}, "fields": {"x": "a.b"}}, None,
                 {"record": {"x": 2}}, id="node json-transform"),
    pytest.param("text-stats", {"text": "a b a", "top": 1}, None,
                 {"lines": 1, "words": 3, "top": [["a", 2]]}, id="node text-stats"),
    pytest.param("http-status-check", {"url": "http://status.example.com/api"}, None,
                 {"checked": 1, "degraded": [], "ok": True}, id="integration status check"),
    pytest.param("webhook-notify", {"url": "http://hooks.example.com/x", "text": "hi"}, None,
                 {"delivered": True, "status": 200}, id="integration webhook"),
    pytest.param("research-agent", {"question": "six times seven?"}, None,
                 {"answer": "42", "steps": 1}, id="agent with tools"),
    pytest.param("coverage-gate", {"report": "cov.json", "min": 0.8},
                 {"cov.json": b'{"totals": {"covered_lines": 9, "num_statements": 10}}'},
                 {"passed": True, "coverage": 0.9, "min": 0.8}, id="quality gate coverage"),
    pytest.param("lint-report-gate", {"report": "lint.json"},
                 {"lint.json": b'[{"severity": "warning"}]'},
                 {"passed": True, "counts": {"warning": 1}}, id="quality gate lint"),
]


@pytest.mark.parametrize(("plugin", "inputs", "files", "expected"), EXAMPLES)
def test_example_plugins_run_under_their_profiles_with_no_denial(
        world: dict[str, Any], plugin: str, inputs: dict[str, Any],
        files: dict[str, bytes] | None, expected: dict[str, Any]) -> None:
    executor = executor_for(world)
    try:
        result = executor.execute(plugin, inputs, files)
    finally:
        executor.deps.pool.close()
    assert (result.outcome, result.denials) == ("success", []), result.error
    assert result.output == expected
    if plugin.endswith("-gate"):
        assert result.report == expected
    if plugin == "research-agent":
        assert result.tokens > 0 and result.tool_calls == 1 and result.cost_usd > 0


def test_a_broken_telemetry_pipeline_never_fails_an_execution(world: dict[str, Any]) -> None:
    executor = executor_for(world)

    def broken(*args: Any) -> Any:
        raise RuntimeError("metrics backend exploded")

    executor.deps.metrics.counter = broken  # type: ignore[method-assign]
    executor.deps.metrics.histogram = broken  # type: ignore[method-assign]
    try:
        result = executor.execute("json-transform", {"record": {"a": 1}})
    finally:
        executor.deps.pool.close()
    assert (result.outcome, result.output) == ("success", {"record": {"a": 1}})


def test_the_host_report_names_a_missing_required_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.sandbox import landlock, layers

    monkeypatch.setattr(landlock, "abi_version", lambda: 0)
    report = layers.report(["rlimits", "landlock", "seccomp", "audit"])
    assert (report["ok"], report["missing"]) == (False, ["landlock"])
    assert report["layers"]["landlock"]["detail"] == "not in this kernel"
