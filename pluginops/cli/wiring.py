"""The real collaborators the CLI injects: a metrics registry and a tracer provider."""

from __future__ import annotations

import getpass
import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from runtime.host import HostDescription
from runtime.install.context import Env, HealthDoor
from runtime.install.journal import Journal
from runtime.install.layout import Layout
from runtime.install.phases import Injector, Reporter, SilentReporter
from runtime.registry import signing
from runtime.registry.index import load_registry
from runtime.sandbox import home as sandbox_home
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.executor import ExecutorDeps
from runtime.sandbox.home import APPROVALS_DB
from runtime.sandbox.policy import load_policy
from runtime.telemetry.metrics import Metrics
from runtime.telemetry.tracing import make_tracer_provider

TRACER_NAME = "pluginops"
ENV_INJECT_FAILURE = "PLUGINOPS_INJECT_FAILURE"
ENV_CRASH_AT = "PLUGINOPS_CRASH_AT"
ENV_ALLOW_UNSIGNED = "PLUGINOPS_ALLOW_UNSIGNED"


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@lru_cache(maxsize=1)
def tracer_provider() -> trace.TracerProvider:
    return make_tracer_provider(os.environ)


def tracer() -> trace.Tracer:
    return tracer_provider().get_tracer(TRACER_NAME)


def installer_env(home: Path, registry: Path | None, host: HostDescription,
                  trust: tuple[Path, ...] = (), allow_unsigned: bool = False,
                  inject_failure: str | None = None, reporter: Reporter | None = None,
                  requested_by: str | None = None, health: HealthDoor | None = None) -> Env:
    """The installer's collaborators, from flags and the environment (the only place that reads
    PLUGINOPS_INJECT_FAILURE and the crash hook PLUGINOPS_CRASH_AT). Health checks go through
    `health` (a serving runtime passes its executor's) or a sandbox executor of their own."""
    layout = Layout(home.absolute())
    keys: dict[str, Ed25519PublicKey] = {}
    candidates = [*sorted(layout.trusted_keys.glob("*.pub")), *trust]
    if layout.own_public_key.is_file():
        candidates.append(layout.own_public_key)
    for path in candidates:
        key = signing.load_public(path)
        keys[signing.key_id(key)] = key
    injector = Injector(fail_phase=inject_failure or os.environ.get(ENV_INJECT_FAILURE) or None,
                        crash_at=os.environ.get(ENV_CRASH_AT) or None)
    policy = load_policy(layout.home)
    allow = allow_unsigned or policy.allow_unsigned or \
        os.environ.get(ENV_ALLOW_UNSIGNED, "") == "1"
    journal, approvals = Journal(layout.journal), Approvals(layout.home / APPROVALS_DB)
    if health is None:
        health = sandbox_home.executor_for(layout.home, metrics(), tracer(), journal,
                                           approvals, policy).health
    return Env(layout=layout, journal=journal, host=host, metrics=metrics(),
               tracer=tracer(), registry=load_registry(registry) if registry else None,
               trusted_keys=keys, allow_unsigned=allow, injector=injector,
               reporter=reporter or SilentReporter(), approvals=approvals, policy=policy,
               requested_by=requested_by or current_user(), health=health)


def current_user() -> str:
    return os.environ.get("PLUGINOPS_USER") or getpass.getuser()


def executor_deps(home: Path) -> ExecutorDeps:
    return sandbox_home.executor_deps(home, metrics(), tracer())


def shutdown() -> None:
    """Flush spans before the process ends."""
    provider = tracer_provider()
    stop = getattr(provider, "shutdown", None)
    if stop is not None:
        stop()
