"""The transaction journal: SQLite in WAL mode with `synchronous=FULL`.

`transactions` is keyed by the correlation id; `events` is append-only (triggers refuse updates
and deletes) and doubles as the undo log: a `created` or `pointer` event is written *before* the
change it describes, so recovery can always undo what an interrupted transaction did.
`installed` is the truth about what is active; it changes only in the commit of a transaction.
`refusals` keeps the installs and updates refused before a transaction began (no version in the
registry fits the request or the host), so failures of every kind are on the record.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.outcomes import TransactionState
from runtime.sqlite import immediate, open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY,
    plugin TEXT NOT NULL,
    operation TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT,
    state TEXT NOT NULL CHECK (state IN ('running', 'committed', 'rolled_back', 'failed',
                                         'awaiting_approval')),
    phase TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    pid INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT,
    next_step TEXT,
    cleaned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS transactions_plugin ON transactions (plugin, started_at);
CREATE INDEX IF NOT EXISTS transactions_state ON transactions (state);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_id TEXT NOT NULL REFERENCES transactions (id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_tx ON events (tx_id, seq);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TABLE IF NOT EXISTS refusals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    plugin TEXT NOT NULL,
    operation TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS installed (
    plugin TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    type TEXT NOT NULL,
    tx_id TEXT NOT NULL,
    updated_at REAL NOT NULL,
    manifest TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class TxRow:
    id: str
    plugin: str
    operation: str
    from_version: str | None
    to_version: str | None
    state: str
    phase: str | None
    started_at: float
    ended_at: float | None
    pid: int
    error_code: str | None
    error_message: str | None
    next_step: str | None
    cleaned: int


@dataclass(frozen=True)
class Event:
    seq: int
    tx_id: str
    at: float
    kind: str
    phase: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class InstalledRow:
    plugin: str
    version: str
    type: str
    tx_id: str
    updated_at: float
    manifest: dict[str, Any]


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_db(path, SCHEMA)

    def close(self) -> None:
        self.db.close()

    def atomic(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate(self.db)

    # writes

    def begin(self, tx_id: str, plugin: str, operation: str, from_version: str | None,
              to_version: str | None, pid: int, now: float) -> None:
        with self.atomic() as db:
            db.execute(
                "INSERT INTO transactions (id, plugin, operation, from_version, to_version, "
                "state, started_at, pid) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (tx_id, plugin, operation, from_version, to_version, now, pid))
            self._event(db, tx_id, "started", None, {"operation": operation,
                                                      "from": from_version, "to": to_version},
                        now)

    def event(self, tx_id: str, kind: str, phase: str | None = None,
              detail: dict[str, Any] | None = None, now: float | None = None) -> None:
        with self.atomic() as db:
            self._event(db, tx_id, kind, phase, detail or {}, now)
            if kind == "phase_started":
                db.execute("UPDATE transactions SET phase = ? WHERE id = ?", (phase, tx_id))

    def set_target(self, tx_id: str, to_version: str) -> None:
        with self.atomic() as db:
            db.execute("UPDATE transactions SET to_version = ? WHERE id = ?", (to_version, tx_id))

    def commit(self, tx_id: str, installed: list[InstalledRow], removed: list[str],
               now: float) -> None:
        """The commit point: the transaction and what is installed change together."""
        with self.atomic() as db:
            for row in installed:
                db.execute(
                    "INSERT INTO installed (plugin, version, type, tx_id, updated_at, manifest) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plugin) DO UPDATE SET "
                    "version = excluded.version, type = excluded.type, tx_id = excluded.tx_id, "
                    "updated_at = excluded.updated_at, manifest = excluded.manifest",
                    (row.plugin, row.version, row.type, tx_id, now, json.dumps(row.manifest)))
            for plugin in removed:
                db.execute("DELETE FROM installed WHERE plugin = ?", (plugin,))
            db.execute("UPDATE transactions SET state = 'committed', ended_at = ? WHERE id = ?",
                       (now, tx_id))
            self._event(db, tx_id, "committed", None, {}, now)

    def finish(self, tx_id: str, state: TransactionState, code: str, message: str, next_step: str,
               now: float) -> None:
        with self.atomic() as db:
            db.execute(
                "UPDATE transactions SET state = ?, ended_at = ?, error_code = ?, "
                "error_message = ?, next_step = ? WHERE id = ?",
                (state, now, code, message, next_step, tx_id))

    def refuse(self, plugin: str, operation: str, code: str, message: str, now: float) -> None:
        with self.atomic() as db:
            db.execute("INSERT INTO refusals (at, plugin, operation, code, message) "
                       "VALUES (?, ?, ?, ?, ?)", (now, plugin, operation, code, message))

    def mark_cleaned(self, tx_id: str) -> None:
        with self.atomic() as db:
            db.execute("UPDATE transactions SET cleaned = 1 WHERE id = ?", (tx_id,))

    @staticmethod
    def _event(db: sqlite3.Connection, tx_id: str, kind: str, phase: str | None,
               detail: dict[str, Any], now: float | None) -> None:
        db.execute("INSERT INTO events (tx_id, at, kind, phase, detail) VALUES (?, ?, ?, ?, ?)",
                   (tx_id, time.time() if now is None else now, kind, phase,
                    json.dumps(detail, sort_keys=True)))

    # reads

    def transaction(self, tx_id: str) -> TxRow | None:
        row = self.db.execute("SELECT * FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        return TxRow(**dict(row)) if row else None

    def transactions(self, plugin: str | None = None, state: TransactionState | None = None,
                     limit: int = 1000) -> list[TxRow]:
        sql, args = "SELECT * FROM transactions WHERE 1 = 1", []
        if plugin is not None:
            sql += " AND plugin = ?"
            args.append(plugin)
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        args.append(str(limit))
        return [TxRow(**dict(r)) for r in self.db.execute(sql, args)]

    def uncleaned(self) -> list[TxRow]:
        rows = self.db.execute(
            "SELECT * FROM transactions WHERE state != 'running' AND cleaned = 0")
        return [TxRow(**dict(r)) for r in rows]

    def events(self, tx_id: str) -> list[Event]:
        rows = self.db.execute("SELECT * FROM events WHERE tx_id = ? ORDER BY seq", (tx_id,))
        return [Event(r["seq"], r["tx_id"], r["at"], r["kind"], r["phase"],
                      json.loads(r["detail"])) for r in rows]

    def installed(self, plugin: str | None = None) -> list[InstalledRow]:
        sql = "SELECT * FROM installed"
        args: tuple[str, ...] = ()
        if plugin is not None:
            sql, args = sql + " WHERE plugin = ?", (plugin,)
        return [InstalledRow(r["plugin"], r["version"], r["type"], r["tx_id"], r["updated_at"],
                             json.loads(r["manifest"]))
                for r in self.db.execute(sql + " ORDER BY plugin", args)]

    def installed_version(self, plugin: str) -> str | None:
        row = self.db.execute("SELECT version FROM installed WHERE plugin = ?",
                              (plugin,)).fetchone()
        return str(row["version"]) if row else None
