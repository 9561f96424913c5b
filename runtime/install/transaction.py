"""Running a transaction: phases in order, each journalled before and after, with a span each;
the commit point; and the undo that returns to the last known-good state on any failure."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.catalogue import Span
from contracts.codes import Code
from contracts.errors import OperationFailed, PluginopsError
from contracts.outcomes import TransactionState
from runtime.install import pointer
from runtime.install.context import Env, Tx
from runtime.install.lock import Holder, PluginLock
from runtime.install.prune import prune_versions

Step = tuple[str, Callable[[], None]]
AWAITING_APPROVAL = "AWAITING_APPROVAL"


@dataclass(frozen=True)
class Failure:
    phase: str | None
    code: str
    message: str
    next_step: str


@dataclass(frozen=True)
class Outcome:
    tx_id: str
    plugin: str
    operation: str
    state: TransactionState
    from_version: str | None
    to_version: str | None
    active_version: str | None
    failure: Failure | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.state in (TransactionState.COMMITTED, TransactionState.NOOP)

    @property
    def message(self) -> str:
        if self.state == TransactionState.NOOP:
            return self.note
        if self.state == TransactionState.COMMITTED:
            verb = {"install": "Installed", "update": "Updated", "rollback": "Rolled back",
                    "uninstall": "Uninstalled"}[self.operation]
            where = f" {self.to_version}" if self.to_version else ""
            return f"{verb} {self.plugin}{where}"
        assert self.failure is not None
        if self.state == TransactionState.ROLLED_BACK:
            back = f"v{self.active_version}" if self.active_version else "not installed"
            return f"Rolled back to {back}: {self.failure.message}"
        if self.state == TransactionState.AWAITING_APPROVAL:
            return self.failure.message
        return (f"{self.operation} of {self.plugin} failed and could not be undone yet: "
                f"{self.failure.message}")


def lock_plugin(env: Env, tx: Tx | None, plugin: str, tx_id: str, operation: str) -> PluginLock:
    lock = PluginLock(env.layout.lock(plugin))
    lock.try_acquire(plugin, Holder(tx_id, os.getpid(), operation, env.clock()))
    if tx is not None:
        tx.locks.append(lock)
    return lock


def start(env: Env, plugin: str, operation: str, from_version: str | None,
          to_version: str | None) -> Tx:
    tx_id = uuid.uuid4().hex
    lock = lock_plugin(env, None, plugin, tx_id, operation)
    log_path = env.layout.log(tx_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tx = Tx(tx_id, plugin, operation, from_version, to_version, env,
            log_path.open("a", encoding="utf-8"), locks=[lock])
    try:
        env.journal.begin(tx_id, plugin, operation, from_version, to_version, os.getpid(),
                          env.clock())
    except BaseException:
        lock.release()
        tx.log.close()
        raise
    tx.note(f"{operation} {plugin} {from_version or '-'} -> {to_version or '-'} (pid "
            f"{os.getpid()})")
    return tx


def run(tx: Tx, steps: list[Step]) -> Outcome:
    env = tx.env
    failure: Failure | None = None
    attrs = {Span.ATTR_CORRELATION_ID: tx.id, Span.ATTR_PLUGIN: tx.plugin,
             Span.ATTR_OPERATION: tx.operation, Span.ATTR_VERSION: tx.to_version or ""}
    try:
        with env.tracer.start_as_current_span(Span.INSTALL_TRANSACTION, attributes=attrs) as span:
            try:
                for index, (phase, work) in enumerate(steps, 1):
                    _run_phase(tx, index, len(steps), phase, work)
                _commit(tx)
            except PluginopsError as err:
                failure = Failure(tx.phase, err.code, err.message, err.next_step)
            except Exception as exc:  # a bug must still end in the known-good state
                failure = Failure(tx.phase, Code.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}",
                                  "report this with the transaction log")
            if failure is not None:
                span.add_event("rollback", {"phase": failure.phase or "", "reason": failure.code})
                final = TransactionState.AWAITING_APPROVAL \
                    if failure.code == AWAITING_APPROVAL else TransactionState.ROLLED_BACK
                return undo(env, tx.id, tx.plugin, tx.operation, failure, tx, final)
            return Outcome(tx.id, tx.plugin, tx.operation, TransactionState.COMMITTED,
                           tx.from_version, tx.to_version,
                           pointer.read(env.layout.current(tx.plugin)))
    finally:
        for lock in reversed(tx.locks):
            lock.release()
        env.reporter.done()
        tx.log.close()


def _run_phase(tx: Tx, index: int, total: int, phase: str, work: Callable[[], None]) -> None:
    env = tx.env
    tx.phase = phase
    env.injector.point(f"before:{phase}")
    env.reporter.phase(tx.plugin, tx.to_version, tx.operation, index, total, phase)
    tx.event("phase_started", {"index": index, "of": total})
    started = env.clock()
    with env.tracer.start_as_current_span(Span.INSTALL_PHASE,
                                          attributes={Span.ATTR_PHASE: phase}):
        try:
            env.injector.fail(phase)
            work()
        except PluginopsError as err:
            tx.event("phase_failed", {"code": err.code, "message": err.message,
                                      "cause": err.cause})
            raise
    duration = max(0.0, env.clock() - started)
    tx.event("phase_completed", {"duration_s": round(duration, 6)})
    env.injector.point(f"after:{phase}")


def _commit(tx: Tx) -> None:
    env = tx.env
    tx.phase = None
    env.injector.point("mid:commit:before")
    env.journal.commit(tx.id, tx.installed, tx.removed, env.clock())
    tx.note("committed")
    env.injector.point("mid:commit:after")
    cleanup(env, tx.id, tx.plugin, tx.operation)


def cleanup(env: Env, tx_id: str, plugin: str, operation: str) -> None:
    """After the commit point: drop staging, old versions and an uninstalled plugin's files."""
    shutil.rmtree(env.layout.staging(tx_id), ignore_errors=True)
    touched = {plugin} | {e.detail.get("plugin", plugin) for e in env.journal.events(tx_id)
                          if e.kind == "pointer"}
    for name in sorted(touched):
        version = env.journal.installed_version(name)
        if version is None:
            if operation == "uninstall" and name == plugin:
                shutil.rmtree(env.layout.plugin_dir(name), ignore_errors=True)
            continue
        prune_versions(env.layout, name, version, env.keep_versions)
    env.journal.mark_cleaned(tx_id)


def undo(env: Env, tx_id: str, plugin: str, operation: str, failure: Failure,
         tx: Tx | None = None,
         final: TransactionState = TransactionState.ROLLED_BACK) -> Outcome:
    """Reverse every journalled change of `tx_id`, newest first; keep its log."""
    journal = env.journal
    row = journal.transaction(tx_id)
    assert row is not None
    journal.event(tx_id, "rollback_started", failure.phase,
                  {"reason": failure.code, "message": failure.message}, env.clock())
    if tx is not None:
        tx.note(f"rolling back: {failure.code}: {failure.message}")
    try:
        for event in reversed(journal.events(tx_id)):
            if event.kind == "pointer":
                pointer.point(env.layout.current(event.detail["plugin"]), event.detail["from"])
            elif event.kind == "created":
                _remove_created(env, event.detail)
        shutil.rmtree(env.layout.staging(tx_id), ignore_errors=True)
        _remove_empty_plugin_dirs(env, {plugin} | {
            e.detail.get("plugin", plugin) for e in journal.events(tx_id) if e.kind == "pointer"})
    except OSError as exc:
        message = f"{failure.message}; undo stopped: {exc}"
        return Outcome(tx_id, plugin, operation, TransactionState.FAILED, row.from_version,
                       row.to_version,
                       pointer.read(env.layout.current(plugin)),
                       Failure(failure.phase, failure.code, message,
                               "run `pluginops recover`: it finishes the undo"))
    active = journal.installed_version(plugin)
    journal.event(tx_id, "rolled_back", failure.phase,
                  {"reason": failure.code, "active_version": active}, env.clock())
    journal.finish(tx_id, final, failure.code, failure.message, failure.next_step, env.clock())
    journal.mark_cleaned(tx_id)  # the journal's counters (journal_metrics.py) now count it
    return Outcome(tx_id, plugin, operation, final, row.from_version, row.to_version,
                   active, failure)


def _remove_empty_plugin_dirs(env: Env, plugins: set[str]) -> None:
    """A first install that rolled back leaves no empty folders behind."""
    for name in plugins:
        if env.journal.installed_version(name) is not None:
            continue
        for folder in (env.layout.versions_dir(name), env.layout.plugin_dir(name)):
            with contextlib.suppress(FileNotFoundError, OSError):
                folder.rmdir()


def _remove_created(env: Env, detail: dict[str, str]) -> None:
    path = Path(detail["path"])
    if not path.is_relative_to(env.layout.plugins):
        raise OperationFailed(Code.JOURNAL_CORRUPT, f"refusing to remove {path}", where=str(path),
                              next_step="inspect the journal")
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        env.layout.tree_file(detail["plugin"], detail["version"]).unlink()
