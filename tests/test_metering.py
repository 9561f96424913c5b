"""The daily meter: an execution's spend is added in memory and written in batches, yet a budget
reads every cent, and no process leaves its spend unwritten when it exits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.sandbox import metering
from runtime.sandbox.metering import DailyMeter
from tests.conftest import REPO

NOON = 1_764_504_000.0  # 2025-11-30T12:00:00Z


def written(path: Path, plugin: str) -> tuple[int, float, int] | None:
    other = DailyMeter(path)  # another process's view: what SQLite holds
    try:
        row = other.db.execute("SELECT tokens, cost_usd, executions FROM daily_usage "
                               "WHERE plugin = ?", (plugin,)).fetchone()
        return (int(row[0]), float(row[1]), int(row[2])) if row else None
    finally:
        other.close()


def test_spend_counts_at_once_and_is_written_in_one_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metering, "FLUSH_S", 3600.0)  # the background pass never comes
    meter = DailyMeter(tmp_path / "metering.db")
    for _ in range(3):
        meter.add("p", NOON, 10, 0.25)
    assert meter.spent("p", NOON) == (30, 0.75)  # a budget sees it before it is written
    assert written(tmp_path / "metering.db", "p") is None
    meter.flush()
    assert written(tmp_path / "metering.db", "p") == (30, 0.75, 3)
    meter.add("p", NOON, 1, 0.5)
    assert meter.spent("p", NOON) == (31, 1.25)  # table and waiting together, counted once
    assert meter.spent("p", NOON + 86_400) == (0, 0.0)  # another day
    meter.close()
    assert written(tmp_path / "metering.db", "p") == (31, 1.25, 4)


def test_spend_that_cannot_be_written_keeps_waiting(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metering, "FLUSH_S", 3600.0)
    meter = DailyMeter(tmp_path / "metering.db")
    meter.add("p", NOON, 5, 1.0)
    monkeypatch.setattr(metering, "UPSERT", "INSERT INTO no_such_table VALUES (?, ?, ?, ?, ?)")
    with pytest.raises(Exception, match="no_such_table"):
        meter.flush()
    assert meter.spent("p", NOON) == (5, 1.0)
    monkeypatch.undo()
    meter.flush()
    assert written(tmp_path / "metering.db", "p") == (5, 1.0, 1)


def test_a_command_that_exits_writes_its_spend(tmp_path: Path) -> None:
    code = ("from pathlib import Path; from runtime.sandbox.metering import DailyMeter; "
            f"DailyMeter(Path({str(tmp_path / 'metering.db')!r})).add('p', {NOON}, 7, 0.5)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert written(tmp_path / "metering.db", "p") == (7, 0.5, 1)
