"""Shared set-up for installer tests: an Env on a temporary home that trusts the test key, and
plugins built for failure cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from contracts.layout import Layout
from runtime.host import this_host
from runtime.install import pointer
from runtime.install.context import Env
from runtime.install.extract import check_tree
from runtime.install.journal import Journal
from runtime.install.phases import Injector
from runtime.install.service import Installer
from runtime.manifest.model import Manifest
from runtime.registry.index import load_registry
from runtime.registry.publish import publish
from runtime.registry.signing import key_id
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.executor import Executor
from runtime.sandbox.home import executor_for
from runtime.sandbox.policy import OrgPolicy
from runtime.telemetry.durable import register_durable_metrics
from runtime.telemetry.metrics import Metrics
from runtime.telemetry.tracing import make_tracer_provider


def a_sandbox_executor(home: Path, metrics: Metrics | None = None, tracer: Any = None,
                       journal: Journal | None = None, approvals: Approvals | None = None,
                       policy: OrgPolicy | None = None) -> Executor:
    """The executor over a home, as `pluginops` wires it (real workers, real layers)."""
    return executor_for(home, metrics or Metrics(CollectorRegistry()),
                        tracer or make_tracer_provider({}).get_tracer("test"), journal,
                        approvals, policy)


def an_env(home: Path, registry: Path, key: Ed25519PrivateKey | None, **overrides: Any) -> Env:
    trusted = {key_id(key.public_key()): key.public_key()} if key else {}
    spans = overrides.pop("spans", None) or InMemorySpanExporter()
    metrics = Metrics(CollectorRegistry())
    # as `pluginops serve` wires it: the install counters are read from the journal
    register_durable_metrics(metrics.registry, Layout(home))
    tracer = make_tracer_provider({}, exporter=spans).get_tracer("test")
    env = Env(layout=Layout(home), journal=Journal(home / "journal.db"), host=this_host(),
              metrics=metrics, tracer=tracer, registry=load_registry(registry),
              trusted_keys=trusted)
    for name, value in overrides.items():
        setattr(env, name, value)
    if "health" not in overrides:  # the sandbox's door, over the same stores as the installer
        env.health = a_sandbox_executor(home, metrics, tracer, env.journal, env.approvals,
                                        env.policy).health
    return env


def an_installer(home: Path, registry: Path, key: Ed25519PrivateKey | None,
                 fail: str | None = None, **overrides: Any) -> Installer:
    return Installer(an_env(home, registry, key, injector=Injector(fail_phase=fail),
                            **overrides))


def publish_plugin(registry: Path, root: Path, key: Ed25519PrivateKey | None, name: str,
                   version: str, module: str, **manifest: Any) -> Path:
    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True)
    data = {"name": name, "version": version, "type": "node", "host": "^2.0.0", "api": "4.0",
            "entrypoint": "main:run", **manifest}
    (folder / "plugin.json").write_text(json.dumps(data))
    (folder / "main.py").write_text(module)
    publish(folder, registry, this_host(), key)
    return folder


def assert_stable(home: Path, plugin: str, version: str | None) -> None:
    """The plugin is at `version` (or absent) on disk, in the journal, and runs."""
    layout = Layout(home)
    journal = Journal(home / "journal.db")
    try:
        assert journal.transactions(state="running") == []
        assert journal.installed_version(plugin) == version
        assert pointer.read(layout.current(plugin)) == version
        if version is None:
            return
        folder = layout.version_dir(plugin, version)
        tree = json.loads(layout.tree_file(plugin, version).read_text())
        assert check_tree(folder, tree) is None
        manifest = Manifest.model_validate_json((folder / "plugin.json").read_text())
        verdict = a_sandbox_executor(home).health(manifest, 10.0)
        assert verdict.healthy, verdict.detail
    finally:
        journal.close()
