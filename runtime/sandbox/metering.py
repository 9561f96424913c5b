"""Daily spend per plugin (tokens and dollars), kept in SQLite so a day's budget holds across
executions, workers and restarts.

An execution adds its spend in memory; a background pass writes what was added to SQLite at
least every FLUSH_S, in one transaction (an execution pays no write), and `close` writes the
rest. What a day has spent, as budgets read it, is what SQLite holds plus what is waiting, so a
budget is exact in this process; a crash of the process loses at most FLUSH_S of spend (and
other processes see this one's spend up to FLUSH_S late)."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from pathlib import Path

from runtime.sqlite import open_db

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS daily_usage (
    plugin TEXT NOT NULL, day TEXT NOT NULL, tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0, executions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin, day)
);
"""


def day_of(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


FLUSH_S = 1.0
UPSERT = ("INSERT INTO daily_usage (plugin, day, tokens, cost_usd, executions) VALUES "
          "(?, ?, ?, ?, ?) ON CONFLICT (plugin, day) DO UPDATE SET tokens = tokens + "
          "excluded.tokens, cost_usd = cost_usd + excluded.cost_usd, executions = "
          "executions + excluded.executions")


class DailyMeter:
    def __init__(self, path: Path) -> None:
        # Counters, not records: a power cut may lose the last few executions' spend, and no
        # execution pays for an fsync.
        self.db = open_db(path, SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], list[float]] = {}  # tokens, cost, executions
        self._writer: threading.Thread | None = None
        self._closed = threading.Event()
        self._db_closed = False

    def busiest(self, now: float, days: int, limit: int) -> list[str]:
        """The plugins executed most over the last `days` days (this one included), most first:
        what `serve` pre-warms."""
        since = day_of(now - (days - 1) * 86400)
        with self._lock:
            rows = self.db.execute(
                "SELECT plugin, SUM(executions) AS n FROM daily_usage WHERE day >= ? "
                "GROUP BY plugin ORDER BY n DESC, plugin LIMIT ?", (since, limit)).fetchall()
        return [str(row[0]) for row in rows]

    def spent(self, plugin: str, now: float) -> tuple[int, float]:
        day = day_of(now)
        with self._lock:  # not while a flush moves spend from waiting to the table
            row = self.db.execute("SELECT tokens, cost_usd FROM daily_usage WHERE plugin = ? "
                                  "AND day = ?", (plugin, day)).fetchone()
            tokens, cost = (int(row[0]), float(row[1])) if row else (0, 0.0)
            waiting = self._waiting.get((plugin, day))
            if waiting is not None:
                tokens, cost = tokens + int(waiting[0]), cost + waiting[1]
        return tokens, cost

    def add(self, plugin: str, now: float, tokens: int, cost_usd: float) -> None:
        with self._lock:
            waiting = self._waiting.setdefault((plugin, day_of(now)), [0, 0.0, 0])
            waiting[0] += tokens
            waiting[1] += cost_usd
            waiting[2] += 1
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_now_and_then, daemon=True,
                                                name="meter-writer")
                self._writer.start()
                atexit.register(self.flush)  # a command that exits writes its spend first

    def flush(self) -> None:
        """Write what is waiting, in one transaction (kept waiting if the write fails)."""
        with self._lock:
            if not self._waiting or self._db_closed:
                return
            rows = [(plugin, day, int(t), c, int(n))
                    for (plugin, day), (t, c, n) in self._waiting.items()]
            try:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(UPSERT, rows)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self._waiting = {}

    def _write_now_and_then(self) -> None:
        while not self._closed.wait(FLUSH_S):
            try:
                self.flush()
            except Exception:  # kept waiting: the next pass retries
                log.exception("writing the daily meter failed")

    def close(self) -> None:
        self._closed.set()
        self.flush()
        with self._lock:
            self._db_closed = True
            self.db.close()
