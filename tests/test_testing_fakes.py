"""The fakes `runtime.testing` ships behave like the real things where the use cases look, and
the audit log on disk takes a record of any size without jamming the next one."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.admin import approving
from runtime.sandbox.approvals import Request
from runtime.sandbox.audit import AuditLog
from runtime.testing import FakeClock, MemoryAuditLog, memory_approvals, memory_journal


def test_the_fake_clock_stands_still_until_told_and_never_goes_back() -> None:
    clock = FakeClock(100.0)
    assert clock() == clock() == 100.0
    assert clock.advance(3600) == 3700.0 == clock()
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_the_memory_audit_log_chains_like_the_file(tmp_path: Path) -> None:
    memory, disk = MemoryAuditLog(), AuditLog(tmp_path / "audit.log")
    for log in (memory, disk):
        log.event("a", at=0, x=1)
        log.event("b", at=0, y=[1, 2])
    assert memory.records() == disk.records()
    assert memory.verify().ok and memory.verify().records == 2
    memory._records[0]["x"] = 2  # tampering breaks the chain, as on disk
    assert not memory.verify().ok


def test_an_approval_expires_on_the_fake_clock_with_stores_in_memory() -> None:
    clock, approvals, audit = FakeClock(), memory_approvals(), MemoryAuditLog()
    approvals.request(Request("lookup", "network:api.example.com", "1.0.0", "olga", "why",
                              clock(), "tx-1"))
    approving.decide(approvals, audit, "lookup", "network:api.example.com", "approved",
                     approving.Decider("ann", "admin", "api"), "ok", clock(),
                     approving.expiry_after(60, clock(), "expires_in_s"))
    assert approvals.approved("lookup", clock()) == {"network:api.example.com"}
    clock.advance(61)
    assert approvals.approved("lookup", clock()) == set()
    assert [r["kind"] for r in audit.records()] == ["approval.approved"]


def test_the_memory_journal_is_the_journal_without_a_file(tmp_path: Path) -> None:
    journal = memory_journal()
    assert journal.transactions() == [] and journal.installed() == []
    assert list(tmp_path.iterdir()) == [] and not Path(":memory:").exists()


def test_a_record_longer_than_the_tail_window_never_jams_the_log(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    log.event("api.request", plugin="x" * 200_000)  # three tail windows long
    log.event("after")
    log.event("huge", body="y" * 65_536)
    log.event("last")
    assert [r["seq"] for r in log.records()] == [1, 2, 3, 4]
    assert log.verify().ok
