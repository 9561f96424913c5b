"""The executor: the one door through which plugin code runs. Every execution goes through
`Executor.execute`: it computes the plugin's grants, runs it in a warm sandboxed worker, meters
CPU, tokens and tool calls into a cost, and records the outcome: metrics (with trace-id
exemplars), a span, audit records for denials. Every install's health check goes through
`Executor.health`: the plugin is imported and its `health(ctx)` called in a worker with the same
layers and grants as an execution of that version. Telemetry failures are logged and never fail
an execution."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from contracts.catalogue import (
    EXECUTION_OUTCOMES,
    EXEMPLAR_TRACE_ID,
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    PLUGIN_TOKENS,
    Span,
)
from contracts.codes import Code
from contracts.errors import OperationFailed, PluginopsError
from contracts.files import make_enterable_dirs
from contracts.layout import Layout
from contracts.outcomes import ExecutionOutcome
from runtime.bake.canary import Canary
from runtime.host import API_VERSIONS, negotiate_api
from runtime.install.journal import Journal
from runtime.manifest.model import Manifest
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.broker import Broker
from runtime.sandbox.grants import Grants, effective_grants
from runtime.sandbox.identity import IdentityBook
from runtime.sandbox.metering import DailyMeter
from runtime.sandbox.plans import Plan, Plans
from runtime.sandbox.policy import OrgPolicy, PolicySource
from runtime.sandbox.pool import WorkerPool, pool_key
from runtime.sandbox.settings import RuntimeSettings
from runtime.sandbox.tools import ToolBox
from runtime.sandbox.worker import HealthReply, Reply, WorkerFailed, WorkerSpec
from runtime.telemetry.metrics import Metrics

log = logging.getLogger(__name__)
SYSTEM_READ_PATHS = (Path("/etc/localtime"), Path("/usr/share/zoneinfo"), Path("/dev/urandom"),
                     Path("/dev/null"))
# The interpreter: its standard library (with its compiled modules), the libraries those link
# to, and this environment's packages (the runtime's own included).
INTERPRETER_READ_PATHS = tuple(dict.fromkeys(Path(p) for p in (
    sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"],
    sysconfig.get_config_var("LIBDIR") or sys.base_prefix, sys.prefix)))
# A worker that fails to start for one of these reasons would fail for every plugin: the
# runtime's setup is at fault, and it is reported as such rather than as the plugin's error.
SETUP_FAILURES = frozenset({Code.SANDBOX_LAYER_UNAVAILABLE, Code.SANDBOX_IDENTITY_UNREACHABLE})


@dataclass(frozen=True)
class Execution:
    correlation_id: str
    plugin: str
    version: str
    outcome: str
    output: dict[str, Any] | None
    error: dict[str, str] | None
    latency_s: float
    cpu_s: float
    tokens: int
    tool_calls: int
    cost_usd: float
    denials: list[dict[str, str]]
    trace_id: str
    report: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ExecutorDeps:
    layout: Layout
    journal: Journal
    approvals: Approvals
    policy: OrgPolicy
    settings: RuntimeSettings
    metrics: Metrics
    tracer: trace.Tracer
    audit: AuditLog
    meter: DailyMeter
    identities: IdentityBook
    pool: WorkerPool = field(default_factory=WorkerPool)
    clock: Any = time.time
    # The plugin API versions this runtime serves; the golden harness narrows it to present one.
    served_api: tuple[str, ...] = API_VERSIONS
    # Where `policy` comes from, when it is the home's file: read again when the file changes.
    policy_source: PolicySource | None = None
    # Routes executions of baking plugins between their two versions (`runtime/bake/`).
    canary: Canary | None = None


class Executor:
    def __init__(self, deps: ExecutorDeps) -> None:
        self.deps = deps
        self.tools = ToolBox(deps.settings.tools)
        self.plans = Plans((deps.journal.path, deps.approvals.path))

    def prime_metrics(self) -> None:
        """Create every installed plugin's series at zero, so `rate()` has a baseline before
        the first error (NOTES.md: pre-create label children)."""
        metrics = self.deps.metrics
        for row in self.deps.journal.installed():
            label = metrics.plugin_label(row.plugin)
            for outcome in EXECUTION_OUTCOMES:
                metrics.counter(PLUGIN_EXECUTIONS).labels(
                    plugin=label, plugin_type=row.type, version=row.version, outcome=outcome)
            metrics.histogram(PLUGIN_EXECUTION_DURATION).labels(plugin=label,
                                                                plugin_type=row.type)
            metrics.counter(PLUGIN_EXECUTION_COST).labels(plugin=label, plugin_type=row.type)

    def prewarm(self, days: int = 7) -> list[str]:
        """Start a worker for each of the `keep_warm` plugins executed most over the last `days`
        days (the meter's durable counts), so their first executions after a start are warm.
        The plugins warmed; a plugin no longer installed, or whose workers serve one execution
        (it may start processes), is skipped."""
        deps = self.deps
        warmed = []
        for plugin in deps.meter.busiest(deps.clock(), days, deps.pool.limits.keep_warm):
            try:
                plan = self.plan(plugin, deps.clock())
            except PluginopsError:
                continue
            if not plan.spec.processes and deps.pool.prewarm(plan.spec, plan.key):
                warmed.append(plugin)
        return warmed

    def plan(self, plugin: str, now: float, version: str | None = None) -> Plan:
        """The installed version's (or a `version` kept on disk's) manifest, grants and worker
        spec (`plans.py`: kept until the journal or the approvals change, an approval it relies
        on expires, or the org policy file changes)."""
        self._refresh_policy()
        return self.plans.get(plugin if version is None else f"{plugin}@{version}", now,
                              self._plan)

    def _refresh_policy(self) -> None:
        source = self.deps.policy_source
        if source is not None:
            policy = source.current()
            if policy is not self.deps.policy:
                self.deps.policy = policy
                self.plans.clear()

    def _plan(self, key: str, now: float) -> Plan:
        plugin, _, version = key.partition("@")  # names never hold an "@"
        if version:
            manifest = kept_manifest(self.deps.layout, plugin, version)
        else:
            rows = self.deps.journal.installed(plugin)
            if not rows:
                raise OperationFailed(Code.NOT_INSTALLED, f"{plugin} is not installed",
                                      where=plugin, http_status=404)
            manifest = Manifest.model_validate(rows[0].manifest)
        in_force = {scope: decision for scope, decision
                    in self.deps.approvals.latest(plugin).items() if decision.in_force(now)}
        until = min((d.expires_at for d in in_force.values() if d.expires_at is not None),
                    default=math.inf)
        grants = effective_grants(manifest, set(in_force), self.deps.policy)
        spec = self.spec(manifest, grants)
        return Plan(manifest, grants, spec, until, pool_key(spec))

    def spec(self, manifest: Manifest, grants: Grants) -> WorkerSpec:
        layout = self.deps.layout
        package = layout.version_dir(manifest.name, manifest.version).resolve()
        extra_read = [Path(p) for p, _ in grants.filesystem if p.startswith("/")]
        extra_write = [Path(p) for p, mode in grants.filesystem
                       if p.startswith("/") and mode == "rw"]
        fs = dict(grants.filesystem)
        limits = grants.limits
        return WorkerSpec(
            plugin=manifest.name, version=manifest.version, profile=manifest.type,
            entrypoint=manifest.entrypoint, package_dir=package,
            run_dir=layout.run_dir(manifest.name, manifest.version).resolve(),
            read_paths=(*INTERPRETER_READ_PATHS, package, *SYSTEM_READ_PATHS, *extra_read),
            write_paths=(Path("/dev/null"), *extra_write), processes=grants.processes,
            limits={"cpu_seconds": limits.cpu_seconds, "memory_mb": limits.memory_mb,
                    "wall_seconds": limits.wall_seconds, "open_files": limits.open_files,
                    "output_bytes": limits.output_bytes},
            layers=tuple(self.deps.settings.sandbox.layers),
            with_inputs="$inputs" in fs, with_report="$report" in fs,
            api_version=negotiate_api(self.deps.served_api, manifest.api) or manifest.api,
            identity=self.deps.identities.for_plugin(manifest.name))

    def health(self, manifest: Manifest, timeout_s: float,
               correlation_id: str = "") -> HealthReply:
        """Import the version and call its health hook in a sandboxed worker of the pool (warm
        if one is idle) with the grants an execution of it would have. The worker and all it
        started end with the check, unless the version is healthy and may start no process:
        then the worker stays in the pool, warm for the version's executions and for a later
        rollback's check (no new interpreter). Denials are audited and counted like an
        execution's."""
        deps = self.deps
        now = deps.clock()
        self._refresh_policy()
        approved = deps.approvals.approved(manifest.name, now)
        grants = effective_grants(manifest, approved, deps.policy)
        spec = self.spec(manifest, grants)
        broker = Broker(grants, deps.settings, deps.meter, self.tools, now=now)
        try:
            worker = deps.pool.acquire(spec)
        except WorkerFailed as failed:
            if failed.code in SETUP_FAILURES:
                raise  # never run weaker than configured
            # the import is the first half of a health check: its error is the verdict
            detail = failed.message if failed.code in (Code.IMPORT_FAILED, Code.DENIED) else \
                f"{failed.code}: {failed.message}"
            reply = HealthReply(False, detail, failed.denials)
        else:
            healthy = False
            try:
                _empty(worker.spec.scratch)
                reply = worker.health(broker, timeout_s)
                healthy = reply.healthy and not reply.denials
            finally:
                if not healthy:
                    worker.kill()  # an unhealthy version's worker serves nobody
                deps.pool.release(spec, worker)  # a healthy one stays warm for executions
        self._record_denials(manifest, reply.denials, now, correlation_id, "health-check")
        return reply

    def execute(self, plugin: str, inputs: Any, input_files: dict[str, bytes] | None = None,
                correlation_id: str | None = None) -> Execution:
        deps = self.deps
        # a correlation id names an execution, it guards nothing: no system call for it
        cid = correlation_id or f"{random.getrandbits(128):032x}"
        now = deps.clock()
        plan = self.plan(plugin, now)
        canary = deps.canary  # a baking plugin: the canary picks the version
        routed = canary.route(plugin, plan.manifest.version) if canary is not None else None
        if routed is not None and routed[1] != plan.manifest.version:
            plan = self.plan(plugin, now, routed[1])
        manifest, grants, spec = plan.manifest, plan.grants, plan.spec
        broker = Broker(grants, deps.settings, deps.meter, self.tools, now=now)
        started = time.perf_counter()
        with deps.tracer.start_as_current_span(Span.EXECUTE, attributes={
                Span.ATTR_PLUGIN: plugin, Span.ATTR_VERSION: manifest.version,
                Span.ATTR_CORRELATION_ID: cid}) as span:
            reply, report = self._run(spec, plan.key, inputs, input_files, cid, broker)
            latency = time.perf_counter() - started
            trace_id = format(span.get_span_context().trace_id, "032x")
            for denial in reply.denials:
                span.add_event("denied", denial)
            span.set_attribute(Span.ATTR_OUTCOME, reply.outcome)
            if reply.outcome != ExecutionOutcome.SUCCESS:  # error, timeout or denial
                error_type = str((reply.error or {}).get("type") or reply.outcome)
                span.set_attribute(Span.ATTR_ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR, f"{reply.outcome}: {error_type}"))
        cost = deps.settings.cost.cost(reply.cpu_s, broker.tokens, broker.tool_calls)
        execution = Execution(cid, plugin, manifest.version, reply.outcome, reply.output,
                              reply.error, latency, reply.cpu_s, broker.tokens,
                              broker.tool_calls, cost, reply.denials, trace_id, report)
        self._record(execution, manifest, now)
        if canary is not None and routed is not None:
            canary.observe(routed[0], routed[1], reply.outcome == ExecutionOutcome.SUCCESS,
                           latency, cost)
        return execution

    def _run(self, spec: WorkerSpec, key: str, inputs: Any,
             input_files: dict[str, bytes] | None, cid: str,
             broker: Broker) -> tuple[Reply, Any]:
        for name in input_files or {}:  # refused before a worker is taken
            _check_input_name(name)
        try:
            worker = self.deps.pool.acquire(spec, key)
        except WorkerFailed as failed:
            if failed.code in SETUP_FAILURES:
                raise  # never run weaker than configured
            outcome = ExecutionOutcome.DENIED if failed.denials else ExecutionOutcome.ERROR
            return Reply(outcome, None, {"type": failed.code, "message": failed.message},
                         failed.denials, 0.0, 0.0), None
        try:
            ws = worker.spec
            for folder in (ws.scratch, ws.report):
                if folder is not None:
                    _empty(folder)
            if ws.inputs is not None:
                _empty(ws.inputs)
                for name, data in (input_files or {}).items():
                    target = ws.inputs / name
                    make_enterable_dirs(target.parent)
                    target.write_bytes(data)
                    os.chmod(target, 0o644)  # the worker's uid reads them, whatever our umask
            reply = worker.execute(inputs, cid, broker, float(spec.limits["wall_seconds"]))
        except BaseException:
            worker.kill()  # a refusal or failure on our side: the worker goes with it
            self.deps.pool.release(spec, worker, key)
            raise
        report = None
        if ws.report is not None and (ws.report / "report.json").is_file():
            try:
                report = json.loads((ws.report / "report.json").read_text())
            except ValueError:
                report = None
        self.deps.pool.release(spec, worker, key)
        return reply, report

    def _record(self, ex: Execution, manifest: Manifest, now: float) -> None:
        """Metrics, audit and metering; a failure here is logged, never raised."""
        deps = self.deps
        try:
            metrics = deps.metrics
            label = metrics.plugin_label(ex.plugin)
            metrics.series(PLUGIN_EXECUTIONS, label, manifest.type, ex.version,
                           ex.outcome).inc()
            traced = ex.trace_id.strip("0") != ""
            metrics.series(PLUGIN_EXECUTION_DURATION, label, manifest.type).observe(
                ex.latency_s, exemplar={EXEMPLAR_TRACE_ID: ex.trace_id} if traced else None)
            metrics.series(PLUGIN_EXECUTION_COST, label, manifest.type).inc(ex.cost_usd)
            if ex.tokens:
                metrics.series(PLUGIN_TOKENS, label).inc(ex.tokens)
        except Exception:  # telemetry never takes an execution down
            log.exception("recording metrics for %s failed", ex.correlation_id)
        try:
            self._audit_denials(manifest, ex.denials, now, ex.correlation_id, "execute")
            deps.meter.add(ex.plugin, now, ex.tokens, ex.cost_usd)
        except Exception:
            log.exception("recording the audit trail for %s failed", ex.correlation_id)

    def _audit_denials(self, manifest: Manifest, denials: list[dict[str, str]], now: float,
                       correlation_id: str, entry: str) -> None:
        for denial in denials:
            self.deps.audit.event(
                "denial", at=now, plugin=manifest.name, version=manifest.version,
                profile=manifest.type, operation=denial["operation"], target=denial["target"],
                rule=denial["rule"], entry=entry, correlation_id=correlation_id)

    def _record_denials(self, manifest: Manifest, denials: list[dict[str, str]], now: float,
                        correlation_id: str, entry: str) -> None:
        """A health check's denials: audited like an execution's (and so counted)."""
        try:
            self._audit_denials(manifest, denials, now, correlation_id, entry)
        except Exception:  # telemetry never decides a health check
            log.exception("recording the denials of %s's health check failed", manifest.name)


def kept_manifest(layout: Layout, plugin: str, version: str) -> Manifest:
    """The manifest of a version kept on disk beside the active one."""
    path = layout.version_dir(plugin, version) / "plugin.json"
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise OperationFailed(Code.VERSION_FOLDER_DAMAGED, f"{path}: {exc}", where=str(path),
                              next_step=f"pluginops update {plugin}@{version} installs it "
                                        "afresh") from None


def _check_input_name(name: str) -> None:
    """An input file name is a relative path that stays inside the inputs folder."""
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts or "\0" in name:
        raise OperationFailed(Code.INPUT_NAME_INVALID, f"{name!r} leaves the inputs", where=name,
                              next_step="use plain file names")


def _empty(folder: Path) -> None:
    """Empty a worker's folder before an execution: one listdir when it is empty already."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return
    for name in names:
        child = folder / name
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
