"""How things end, as values every room shares: an execution's outcome, a transaction's state,
a plugin's state in `status`, an approval's decision. They are `StrEnum`s, so they are the same
strings in JSON, SQLite and metric labels as they always were."""

from __future__ import annotations

from enum import StrEnum


class ExecutionOutcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    DENIED = "denied"


class TransactionState(StrEnum):
    RUNNING = "running"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    AWAITING_APPROVAL = "awaiting_approval"
    NOOP = "noop"  # an outcome only: nothing to do, no transaction was written


class PluginState(StrEnum):
    ACTIVE = "active"
    NOT_INSTALLED = "not_installed"
    IN_PROGRESS = "in_progress"
    INTERRUPTED = "interrupted"


class Decision(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
