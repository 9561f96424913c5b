"""Recovery, run before every operation and every status read: a transaction whose process is
gone (its lock is free) is rolled back to the last committed state; one that passed its commit
point gets its clean-up finished. After recovery nothing is in between."""

from __future__ import annotations

import os

from contracts.codes import Code
from contracts.outcomes import TransactionState
from runtime.install.context import Env
from runtime.install.lock import Holder, OperationInProgress, PluginLock
from runtime.install.transaction import Failure, cleanup, undo


def recover(env: Env) -> list[str]:
    """The ids of the transactions this call repaired."""
    repaired = []
    for row in env.journal.transactions(state=TransactionState.RUNNING):
        lock = PluginLock(env.layout.lock(row.plugin))
        try:
            lock.try_acquire(row.plugin, Holder(row.id, os.getpid(), "recovery", env.clock()))
        except OperationInProgress:
            continue  # alive: its own process will finish or undo it
        try:
            undo(env, row.id, row.plugin, row.operation, Failure(
                row.phase, Code.INTERRUPTED,
                f"{row.operation} was interrupted in phase {row.phase or 'start'} (process "
                f"{row.pid} ended without finishing); restored the last committed state",
                f"run `pluginops {row.operation} {row.plugin}` again"))
            repaired.append(row.id)
        finally:
            lock.release()
    for row in env.journal.uncleaned():
        lock = PluginLock(env.layout.lock(row.plugin))
        try:
            lock.try_acquire(row.plugin, Holder(row.id, os.getpid(), "recovery", env.clock()))
        except OperationInProgress:
            continue
        try:
            cleanup(env, row.id, row.plugin, row.operation)
            repaired.append(row.id)
        finally:
            lock.release()
    return repaired
