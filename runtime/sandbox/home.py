"""The sandbox's stores in a state folder (`PLUGINOPS_HOME`), and an executor over them: the
one way the CLI, the installer's health checks, the tests and the benchmarks build it."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import trace

from contracts.layout import Layout
from runtime.install.journal import Journal
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.executor import Executor, ExecutorDeps
from runtime.sandbox.identity import IdentityBook
from runtime.sandbox.metering import DailyMeter
from runtime.sandbox.policy import OrgPolicy, PolicySource
from runtime.sandbox.pool import PoolLimits, WorkerPool
from runtime.sandbox.settings import load_settings
from runtime.telemetry.metrics import Metrics


def executor_deps(home: Path, metrics: Metrics, tracer: trace.Tracer,
                  journal: Journal | None = None, approvals: Approvals | None = None,
                  policy: OrgPolicy | None = None) -> ExecutorDeps:
    """The executor's collaborators over `home`; pass the stores a caller already holds."""
    layout = Layout(home.absolute())
    settings = load_settings(layout.home)
    source = None
    if policy is None:  # the home's file, watched for edits
        source = PolicySource(layout.home)
        policy = source.current()
    return ExecutorDeps(
        layout=layout, journal=journal or Journal(layout.journal),
        approvals=approvals or Approvals(layout.approvals_db),
        policy=policy, settings=settings, metrics=metrics,
        tracer=tracer, audit=AuditLog(layout.audit_log),
        meter=DailyMeter(layout.metering_db),
        identities=identity_book(layout.home),
        pool=WorkerPool(PoolLimits(**settings.sandbox.pool.model_dump()), metrics=metrics),
        policy_source=source)


def identity_book(home: Path) -> IdentityBook:
    sandbox = load_settings(home).sandbox
    return IdentityBook(Layout(home).identities_db, sandbox.worker_uids.first,
                        sandbox.worker_uids.count, sandbox.tasks_per_plugin)


def executor_for(home: Path, metrics: Metrics, tracer: trace.Tracer,
                 journal: Journal | None = None, approvals: Approvals | None = None,
                 policy: OrgPolicy | None = None) -> Executor:
    return Executor(executor_deps(home, metrics, tracer, journal, approvals, policy))
