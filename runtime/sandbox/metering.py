"""Daily spend per plugin (tokens and dollars), kept in SQLite so a day's budget holds across
executions, workers and restarts."""

from __future__ import annotations

import time
from pathlib import Path

from runtime.sqlite import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS daily_usage (
    plugin TEXT NOT NULL, day TEXT NOT NULL, tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0, executions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin, day)
);
"""


def day_of(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


class DailyMeter:
    def __init__(self, path: Path) -> None:
        # Counters, not records: a power cut may lose the last few executions' spend, an
        # application crash loses nothing, and no execution pays for an fsync.
        self.db = open_db(path, SCHEMA, synchronous="NORMAL")

    def spent(self, plugin: str, now: float) -> tuple[int, float]:
        row = self.db.execute("SELECT tokens, cost_usd FROM daily_usage WHERE plugin = ? AND "
                              "day = ?", (plugin, day_of(now))).fetchone()
        return (int(row[0]), float(row[1])) if row else (0, 0.0)

    def add(self, plugin: str, now: float, tokens: int, cost_usd: float) -> None:
        self.db.execute(
            "INSERT INTO daily_usage (plugin, day, tokens, cost_usd, executions) VALUES "
            "(?, ?, ?, ?, 1) ON CONFLICT (plugin, day) DO UPDATE SET tokens = tokens + "
            "excluded.tokens, cost_usd = cost_usd + excluded.cost_usd, executions = "
            "executions + 1", (plugin, day_of(now), tokens, cost_usd))

    def close(self) -> None:
        self.db.close()
