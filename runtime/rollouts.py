"""The fleet coordinator's journal (`rollouts.db`, SQLite, WAL, FULL sync): each rollout with its
waves and settings, each host's step (its version before, the update's transaction, its
state), each wave's gate (when it started, how it ended, the evidence), and an append-only log
of what happened. A coordinator killed at any instant is resumed from it: a step is recorded
`updating` before its request, so the next run asks the host what became of it."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.sqlite import immediate, open_db

RUNNING, COMPLETED, ROLLED_BACK, FAILED = "running", "completed", "rolled_back", "failed"
PENDING, UPDATING, UPDATED, STEP_FAILED = "pending", "updating", "updated", "failed"
STEP_ROLLED_BACK, ROLLBACK_FAILED = "rolled_back", "rollback_failed"
GATE_PASSED, GATE_FAILED = "passed", "failed"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS rollouts (
    id TEXT PRIMARY KEY,
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('{RUNNING}', '{COMPLETED}', '{ROLLED_BACK}',
                                         '{FAILED}')),
    waves TEXT NOT NULL,
    settings TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    detail TEXT NOT NULL DEFAULT '{{}}'
);
CREATE UNIQUE INDEX IF NOT EXISTS rollouts_one_running ON rollouts (plugin)
    WHERE state = '{RUNNING}';
CREATE TABLE IF NOT EXISTS steps (
    rollout_id TEXT NOT NULL REFERENCES rollouts (id),
    host TEXT NOT NULL,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL,
    previous TEXT,
    tx_id TEXT,
    detail TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (rollout_id, host)
);
CREATE TABLE IF NOT EXISTS gates (
    rollout_id TEXT NOT NULL REFERENCES rollouts (id),
    wave INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT,
    evidence TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (rollout_id, wave)
);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{{}}'
);
"""


@dataclass(frozen=True)
class Rollout:
    id: str
    plugin: str
    version: str
    state: str
    waves: list[list[str]]
    settings: dict[str, Any]
    started_at: float
    ended_at: float | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Step:
    host: str
    wave: int
    state: str
    previous: str | None
    tx_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Gate:
    wave: int
    started_at: float
    ended_at: float | None
    outcome: str | None
    evidence: dict[str, Any]


class Rollouts:
    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.db = open_db(path, SCHEMA)
        self.clock = clock

    def close(self) -> None:
        self.db.close()

    def _write(self, sql: str, *args: Any) -> None:
        with immediate(self.db) as db:
            db.execute(sql, args)

    def create(self, plugin: str, version: str, waves: list[list[str]],
               settings: dict[str, Any]) -> Rollout:
        rollout_id = uuid.uuid4().hex
        now = self.clock()
        with immediate(self.db) as db:
            db.execute("INSERT INTO rollouts (id, plugin, version, state, waves, settings, "
                       "started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (rollout_id, plugin, version, RUNNING, json.dumps(waves),
                        json.dumps(settings, sort_keys=True), now))
            for index, wave in enumerate(waves):
                for host in wave:
                    db.execute("INSERT INTO steps (rollout_id, host, wave, state) "
                               "VALUES (?, ?, ?, ?)", (rollout_id, host, index, PENDING))
            db.execute("INSERT INTO log (rollout_id, at, kind, detail) VALUES "
                       "(?, ?, 'started', ?)",
                       (rollout_id, now, json.dumps({"version": version, "waves": waves})))
        found = self.get(rollout_id)
        assert found is not None
        return found

    def step(self, rollout_id: str, host: str, state: str, previous: str | None = None,
             tx_id: str | None = None, detail: dict[str, Any] | None = None) -> None:
        self._write("UPDATE steps SET state = ?, previous = COALESCE(?, previous), "
                    "tx_id = COALESCE(?, tx_id), detail = ? WHERE rollout_id = ? AND host = ?",
                    state, previous, tx_id, json.dumps(detail or {}, sort_keys=True),
                    rollout_id, host)
        self.log(rollout_id, f"step_{state}", {"host": host, **(detail or {})})

    def start_gate(self, rollout_id: str, wave: int) -> Gate:
        self._write("INSERT OR IGNORE INTO gates (rollout_id, wave, started_at) VALUES "
                    "(?, ?, ?)", rollout_id, wave, self.clock())
        gate = self.gate(rollout_id, wave)
        assert gate is not None
        return gate

    def end_gate(self, rollout_id: str, wave: int, outcome: str,
                 evidence: dict[str, Any]) -> None:
        self._write("UPDATE gates SET ended_at = ?, outcome = ?, evidence = ? "
                    "WHERE rollout_id = ? AND wave = ?", self.clock(), outcome,
                    json.dumps(evidence, sort_keys=True), rollout_id, wave)
        self.log(rollout_id, f"gate_{outcome}", {"wave": wave, **evidence})

    def finish(self, rollout_id: str, state: str, detail: dict[str, Any]) -> None:
        self._write("UPDATE rollouts SET state = ?, ended_at = ?, detail = ? WHERE id = ?",
                    state, self.clock(), json.dumps(detail, sort_keys=True), rollout_id)
        self.log(rollout_id, state, detail)

    def log(self, rollout_id: str, kind: str, detail: dict[str, Any]) -> None:
        self._write("INSERT INTO log (rollout_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                    rollout_id, self.clock(), kind, json.dumps(detail, sort_keys=True))

    # reads

    def get(self, rollout_id: str) -> Rollout | None:
        row = self.db.execute("SELECT * FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
        return _rollout(row) if row else None

    def running(self, plugin: str) -> Rollout | None:
        row = self.db.execute("SELECT * FROM rollouts WHERE plugin = ? AND state = ?",
                              (plugin, RUNNING)).fetchone()
        return _rollout(row) if row else None

    def latest(self, plugin: str) -> Rollout | None:
        found = self.history(plugin)
        return found[-1] if found else None

    def history(self, plugin: str | None = None, limit: int = 1000) -> list[Rollout]:
        """The plugin's (or every plugin's) last `limit` rollouts, oldest first."""
        where, args = ("WHERE plugin = ?", [plugin]) if plugin else ("", [])
        rows = self.db.execute(f"SELECT * FROM (SELECT *, rowid AS r FROM rollouts {where} "
                               "ORDER BY started_at DESC, r DESC LIMIT ?) ORDER BY started_at, r",
                               [*args, limit])
        return [_rollout(r) for r in rows]

    def steps(self, rollout_id: str) -> list[Step]:
        rows = self.db.execute("SELECT * FROM steps WHERE rollout_id = ? ORDER BY wave, rowid",
                               (rollout_id,))
        return [Step(r["host"], r["wave"], r["state"], r["previous"], r["tx_id"],
                     json.loads(r["detail"])) for r in rows]

    def gate(self, rollout_id: str, wave: int) -> Gate | None:
        row = self.db.execute("SELECT * FROM gates WHERE rollout_id = ? AND wave = ?",
                              (rollout_id, wave)).fetchone()
        return Gate(row["wave"], row["started_at"], row["ended_at"], row["outcome"],
                    json.loads(row["evidence"])) if row else None

    def events(self, rollout_id: str) -> list[tuple[float, str, dict[str, Any]]]:
        rows = self.db.execute("SELECT at, kind, detail FROM log WHERE rollout_id = ? "
                               "ORDER BY seq", (rollout_id,))
        return [(r["at"], r["kind"], json.loads(r["detail"])) for r in rows]


def _rollout(row: sqlite3.Row) -> Rollout:
    return Rollout(row["id"], row["plugin"], row["version"], row["state"],
                   json.loads(row["waves"]), json.loads(row["settings"]), row["started_at"],
                   row["ended_at"], json.loads(row["detail"]))
