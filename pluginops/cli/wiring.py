"""The real collaborators the CLI injects: a metrics registry and a tracer provider."""

from __future__ import annotations

import getpass
import os
from functools import lru_cache
from pathlib import Path

from opentelemetry import trace
from prometheus_client import CollectorRegistry

from runtime.host import HostDescription
from runtime.install import environment
from runtime.install.context import Env, HealthDoor
from runtime.install.phases import Injector, Reporter
from runtime.registry.http import HttpSource
from runtime.sandbox import home as sandbox_home
from runtime.sandbox.executor import ExecutorDeps
from runtime.telemetry.metrics import Metrics, without_created_series
from runtime.telemetry.tracing import make_tracer_provider

TRACER_NAME = "pluginops"
ENV_INJECT_FAILURE = "PLUGINOPS_INJECT_FAILURE"
ENV_CRASH_AT = "PLUGINOPS_CRASH_AT"
ENV_ALLOW_UNSIGNED = "PLUGINOPS_ALLOW_UNSIGNED"


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    without_created_series()
    return Metrics(CollectorRegistry())


@lru_cache(maxsize=1)
def tracer_provider() -> trace.TracerProvider:
    return make_tracer_provider(os.environ)


def tracer() -> trace.Tracer:
    return tracer_provider().get_tracer(TRACER_NAME)


def installer_env(home: Path, registry: Path | HttpSource | None, host: HostDescription,
                  trust: tuple[Path, ...] = (), allow_unsigned: bool = False,
                  inject_failure: str | None = None, reporter: Reporter | None = None,
                  requested_by: str | None = None, health: HealthDoor | None = None) -> Env:
    """The installer's collaborators, from flags and the environment (the only place that reads
    PLUGINOPS_INJECT_FAILURE, the crash hook PLUGINOPS_CRASH_AT and PLUGINOPS_ALLOW_UNSIGNED).
    Health checks go through `health` (a serving runtime passes its executor's) or a sandbox
    executor of their own."""
    injector = Injector(fail_phase=inject_failure or os.environ.get(ENV_INJECT_FAILURE) or None,
                        crash_at=os.environ.get(ENV_CRASH_AT) or None)
    allow = allow_unsigned or os.environ.get(ENV_ALLOW_UNSIGNED, "") == "1"
    return environment.installer_env(
        home, registry, host, metrics(), tracer(), requested_by or current_user(), trust,
        allow, injector, reporter, health)


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
