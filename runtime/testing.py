"""Fakes for tests and for plugin authors' own tests: a clock that moves only when told, and
the runtime's stores in memory behind the same interfaces as the real ones.

    clock = FakeClock(1_800_000_000)
    approvals, audit = memory_approvals(), MemoryAuditLog()
    ...
    clock.advance(3600)

The stores in memory are the real classes over an in-memory SQLite database (the same SQL, no
file), except the audit log, which keeps its hash chain in a list. Nothing here touches disk.
"""

from __future__ import annotations

from typing import Any

from runtime.install.journal import Journal
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import GENESIS, Verification, record_hash, seal, stamped
from runtime.sqlite import IN_MEMORY


class FakeClock:
    """A clock (`() -> seconds since the epoch`, like `time.time`) that stands still."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
        return self.now


class MemoryAuditLog:
    """The audit log's records and hash chain, in a list (`runtime.sandbox.audit.AuditTrail`)."""

    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any], durable: bool = True) -> dict[str, Any]:
        last = self._records[-1] if self._records else None
        full = seal(record, (last["seq"] if last else 0) + 1,
                    last["hash"] if last else GENESIS)
        self._records.append(full)
        return full

    def event(self, kind: str, *, at: float | None = None, durable: bool = True,
              **fields: Any) -> dict[str, Any]:
        return self.append(stamped(kind, at, fields), durable)

    def records(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._records]

    def verify(self) -> Verification:
        prev = GENESIS
        for number, record in enumerate(self._records, 1):
            if record.get("prev") != prev or record.get("hash") != record_hash(record):
                return Verification(False, number - 1, "chain broken", number)
            prev = record["hash"]
        return Verification(True, len(self._records))


def memory_journal() -> Journal:
    return Journal(IN_MEMORY)


def memory_approvals() -> Approvals:
    return Approvals(IN_MEMORY)
