"""The installer as its callers see it (CLI and HTTP API): install, update, rollback, uninstall,
status and history.

Making one has no side effect. Crash recovery (undoing transactions whose process died, under
their plugin locks) runs where an operation starts: each install, update, rollback and uninstall
first calls `recover()`, which is traced and logged; `pluginops recover` and `pluginops serve`'s
start call it on their own. Reads (status, history) take no lock and change nothing: an
interrupted transaction shows as `interrupted` until the next operation repairs it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from contracts.catalogue import Span
from contracts.codes import Code
from contracts.errors import OperationFailed, PluginopsError
from contracts.outcomes import PluginState, TransactionState
from runtime.install import baking, pointer
from runtime.install.baking import BakeRequest
from runtime.install.context import Env
from runtime.install.lock import is_held
from runtime.install.operations import install_steps, rollback_steps, uninstall_steps
from runtime.install.phases import PHASES_BY_OPERATION
from runtime.install.recovery import recover
from runtime.install.select import parse_spec, select
from runtime.install.transaction import Outcome, run, start
from runtime.semver import is_exact_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InFlight:
    tx_id: str
    operation: str
    version: str | None
    phase: str | None
    index: int
    total: int
    pid: int
    age_s: float



@dataclass(frozen=True)
class PluginStatus:
    plugin: str
    state: PluginState
    version: str | None
    type: str | None
    since_tx: str | None
    in_flight: InFlight | None = None
    last_outcome: dict[str, Any] = field(default_factory=dict)


class Installer:
    def __init__(self, env: Env) -> None:
        self.env = env

    def recover(self) -> list[str]:
        """Undo or clean up what interrupted operations left; the ids of the transactions
        repaired."""
        with self.env.tracer.start_as_current_span(Span.INSTALL_RECOVER) as span:
            repaired = recover(self.env)
            span.set_attribute(Span.ATTR_REPAIRED, len(repaired))
        if repaired:
            log.warning("recovered %d interrupted transaction(s): %s", len(repaired),
                        ", ".join(repaired))
        return repaired

    # operations

    def install(self, target: str, operation: str = "install",
                bake: BakeRequest | None = None) -> Outcome:
        """Install (or update) `target`; an update with `bake` then bakes the new version
        against the one it replaced (`baking.py`)."""
        if bake is not None and operation != "update":
            raise PluginopsError(Code.BAKE_INVALID, "only an update can bake: a first install "
                                 "has no earlier version to compare with", where="bake",
                                 next_step=f"pluginops install {target}, then bake updates")
        name, spec = parse_spec(target)
        self.recover()
        registry = self._registry()
        current = self.env.journal.installed_version(name)
        if operation == "install" and current is not None:
            wanted = select(registry, self.env.host, name, spec)
            if str(wanted.version) == current:
                return Outcome("", name, operation, TransactionState.NOOP, current, current,
                               current, note=f"{name} {current} is already installed")
            raise OperationFailed(Code.ALREADY_INSTALLED, f"{name} {current} is installed",
                                  where=name, next_step=f"pluginops update {target}")
        if operation == "update" and current is None:
            raise OperationFailed(Code.NOT_INSTALLED, f"{name} is not installed", where=name,
                                  http_status=404)
        try:
            published = select(registry, self.env.host, name, spec)
        except OperationFailed as err:
            self.env.journal.refuse(name, operation, err.code, err.message, self.env.clock())
            raise
        if operation == "update" and str(published.version) == current:
            return Outcome("", name, operation, TransactionState.NOOP, current, current, current,
                           note=f"{name} {current} is already the newest match")
        tx = start(self.env, name, operation, current, str(published.version))
        outcome = run(tx, install_steps(tx, published))
        baking.after(self.env, outcome, request=bake)
        return outcome

    def update(self, target: str, bake: BakeRequest | None = None) -> Outcome:
        return self.install(target, operation="update", bake=bake)

    def rollback(self, name: str, to: str | None = None,
                 cause: dict[str, Any] | None = None) -> Outcome:
        """Roll back to `to` (or the version before the active one). `cause`: the verdict of
        the bake that asked for it (its `bake_id`), recorded with the rollback."""
        parse_spec(name)
        if to is not None and not is_exact_version(to):  # never a path, range or page of text
            raise PluginopsError(Code.VERSION_INVALID, f"{to[:64]!r} is not a version",
                                 where="to", next_step="name an installed version, e.g. "
                                 "1.3.2 (`pluginops history NAME` lists them)")
        self.recover()
        current = self.env.journal.installed_version(name)
        if current is None:
            raise OperationFailed(Code.NOT_INSTALLED, f"{name} is not installed", where=name,
                                  http_status=404)
        target = to or self._previous_version(name, current)
        if target == current:
            outcome = Outcome("", name, "rollback", TransactionState.NOOP, current, current,
                              current, note=f"{name} {current} is already active")
        else:
            tx = start(self.env, name, "rollback", current, target)
            outcome = run(tx, rollback_steps(tx, target))
        baking.after(self.env, outcome, cause=cause)
        return outcome

    def uninstall(self, name: str) -> Outcome:
        parse_spec(name)
        self.recover()
        current = self.env.journal.installed_version(name)
        if current is None:
            raise OperationFailed(Code.NOT_INSTALLED, f"{name} is not installed", where=name,
                                  http_status=404)
        dependents = self.dependents(name)
        if dependents:
            raise OperationFailed(Code.HAS_DEPENDENTS, f"{', '.join(dependents)} depend(s) on "
                                  f"{name}", where=name,
                                  next_step=f"uninstall {', '.join(dependents)} first")
        tx = start(self.env, name, "uninstall", current, None)
        outcome = run(tx, uninstall_steps(tx))
        baking.after(self.env, outcome)
        return outcome

    def dependents(self, name: str) -> list[str]:
        return [row.plugin for row in self.env.journal.installed()
                if name in row.manifest.get("dependencies", {})]

    # reads

    def status(self, name: str | None = None) -> list[PluginStatus]:
        journal = self.env.journal
        installed = {row.plugin: row for row in journal.installed(name)}
        running = {row.plugin: row for row in
                   journal.transactions(name, state=TransactionState.RUNNING)}
        names = sorted(set(installed) | set(running) | ({name} if name else set()))
        out = []
        for plugin in names:
            row = installed.get(plugin)
            flight = running.get(plugin)
            in_flight = None
            interrupted = flight is not None and not is_held(self.env.layout.lock(plugin))
            if flight is not None and not interrupted:
                phases = PHASES_BY_OPERATION[flight.operation]
                index = phases.index(flight.phase) + 1 if flight.phase in phases else 0
                in_flight = InFlight(flight.id, flight.operation, flight.to_version,
                                     flight.phase, index, len(phases), flight.pid,
                                     self.env.clock() - flight.started_at)
            last = journal.transactions(plugin, limit=1)
            last_outcome = ({"tx_id": last[0].id, "operation": last[0].operation,
                             "state": last[0].state, "error_code": last[0].error_code,
                             "message": last[0].error_message} if last else {})
            state = PluginState.IN_PROGRESS if in_flight else \
                PluginState.INTERRUPTED if interrupted else \
                PluginState.ACTIVE if row else PluginState.NOT_INSTALLED
            out.append(PluginStatus(
                plugin, state,
                row.version if row else None, row.type if row else None,
                row.tx_id if row else None, in_flight, last_outcome))
        return out

    def history(self, name: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        journal = self.env.journal
        out = []
        for row in journal.transactions(name, limit=limit):
            events = journal.events(row.id)
            phases: dict[str, dict[str, Any]] = {}
            for event in events:
                if event.kind.startswith("phase_") and event.phase:
                    entry = phases.setdefault(event.phase, {"phase": event.phase,
                                                            "outcome": "started"})
                    if event.kind == "phase_completed":
                        entry["outcome"] = "completed"
                        entry["duration_s"] = event.detail.get("duration_s")
                    elif event.kind == "phase_failed":
                        entry["outcome"] = "failed"
                        entry["code"] = event.detail.get("code")
            rollback = next(({"phase": e.phase, "reason": e.detail.get("reason"),
                              "active_version": e.detail.get("active_version"), "at": e.at}
                             for e in events if e.kind == "rolled_back"), None)
            out.append({
                "tx_id": row.id, "plugin": row.plugin, "operation": row.operation,
                "from_version": row.from_version, "to_version": row.to_version,
                "outcome": row.state, "started_at": row.started_at, "ended_at": row.ended_at,
                "duration_s": (round(row.ended_at - row.started_at, 6)
                               if row.ended_at else None),
                "phases": list(phases.values()), "rollback": rollback,
                "error": ({"code": row.error_code, "message": row.error_message,
                           "next_step": row.next_step} if row.error_code else None),
                "log": str(self.env.layout.log(row.id)),
            })
        return out

    def active_version(self, name: str) -> str | None:
        return pointer.read(self.env.layout.current(name))

    # helpers

    def _registry(self) -> Any:
        if self.env.registry is None:
            raise OperationFailed(Code.REGISTRY_REQUIRED, "no registry to install from",
                                  where="--registry",
                                  next_step="pass --registry DIR or set PLUGINOPS_REGISTRY")
        return self.env.registry

    def _previous_version(self, name: str, current: str) -> str:
        for row in self.env.journal.transactions(name, state=TransactionState.COMMITTED):
            if row.to_version == current and row.from_version and row.operation != "uninstall":
                return row.from_version
        raise OperationFailed(Code.NO_PREVIOUS_VERSION, f"{name} has no earlier version to roll "
                              "back to", where=name, next_step=f"pluginops rollback {name} "
                              "--to VERSION")
