"""Bakes, durably (`bakes.db`, SQLite in WAL mode, FULL sync): which version of a plugin is
baking against which, at what canary weight, the counts each version has gathered, the latency
and cost thresholds once set, and the decision with its evidence.

A bake is keyed by the correlation id of the update that started it. At most one bake of a
plugin is `baking` (a partial unique index). Counts are added, never overwritten, so several
processes serving one home add to the same totals; the decision is taken once, by whichever
process first sees the evidence, inside the same write transaction that closes the bake."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.bake.evidence import Arm, Thresholds
from runtime.sqlite import immediate, open_db

BAKING, PROMOTED, ROLLED_BACK, ENDED = "baking", "promoted", "rolled_back", "ended"
STATES = (BAKING, PROMOTED, ROLLED_BACK, ENDED)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS bakes (
    id TEXT PRIMARY KEY,
    plugin TEXT NOT NULL,
    candidate TEXT NOT NULL,
    baseline TEXT NOT NULL,
    weight REAL NOT NULL CHECK (weight > 0 AND weight < 1),
    min_executions INTEGER NOT NULL CHECK (min_executions > 0),
    state TEXT NOT NULL CHECK (state IN {STATES!r}),
    started_at REAL NOT NULL,
    ended_at REAL,
    thresholds TEXT,
    candidate_counts TEXT NOT NULL DEFAULT '{{}}',
    baseline_counts TEXT NOT NULL DEFAULT '{{}}',
    decision TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS bakes_one_per_plugin ON bakes (plugin)
    WHERE state = '{BAKING}';
CREATE INDEX IF NOT EXISTS bakes_plugin ON bakes (plugin, started_at);
"""


@dataclass(frozen=True)
class Bake:
    id: str  # the correlation id of the update that started it
    plugin: str
    candidate: str
    baseline: str
    weight: float
    min_executions: int
    state: str
    started_at: float
    ended_at: float | None = None
    thresholds: Thresholds | None = None
    candidate_arm: Arm = field(default_factory=Arm)
    baseline_arm: Arm = field(default_factory=Arm)
    decision: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "plugin": self.plugin, "candidate": self.candidate,
                "baseline": self.baseline, "weight": self.weight,
                "min_executions": self.min_executions, "state": self.state,
                "started_at": self.started_at, "ended_at": self.ended_at,
                "thresholds": None if self.thresholds is None else self.thresholds.__dict__,
                "candidate_counts": self.candidate_arm.to_dict(),
                "baseline_counts": self.baseline_arm.to_dict(), "decision": self.decision}


def _bake(row: sqlite3.Row) -> Bake:
    thresholds = json.loads(row["thresholds"]) if row["thresholds"] else None
    return Bake(row["id"], row["plugin"], row["candidate"], row["baseline"], row["weight"],
                row["min_executions"], row["state"], row["started_at"], row["ended_at"],
                Thresholds(**thresholds) if thresholds else None,
                Arm.from_dict(json.loads(row["candidate_counts"])),
                Arm.from_dict(json.loads(row["baseline_counts"])),
                json.loads(row["decision"]) if row["decision"] else None)


class Bakes:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_db(path, SCHEMA)

    def close(self) -> None:
        self.db.close()

    def start(self, bake_id: str, plugin: str, candidate: str, baseline: str, weight: float,
              min_executions: int, now: float) -> Bake:
        """A new bake of `plugin`; one still baking is ended first (a newer operation
        supersedes it)."""
        with immediate(self.db) as db:
            self._end(db, plugin, {"reason": "superseded", "by": bake_id}, now)
            db.execute("INSERT INTO bakes (id, plugin, candidate, baseline, weight, "
                       "min_executions, state, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (bake_id, plugin, candidate, baseline, weight, min_executions, BAKING,
                        now))
        found = self.get(bake_id)
        assert found is not None
        return found

    def end(self, plugin: str, why: dict[str, Any], now: float) -> Bake | None:
        """End the plugin's bake without a verdict (another operation on the plugin: an update,
        a rollback, an uninstall); the bake ended, if one was baking."""
        with immediate(self.db) as db:
            return self._end(db, plugin, why, now)

    def _end(self, db: sqlite3.Connection, plugin: str, why: dict[str, Any],
             now: float) -> Bake | None:
        row = db.execute("SELECT * FROM bakes WHERE plugin = ? AND state = ?",
                         (plugin, BAKING)).fetchone()
        if row is None:
            return None
        db.execute("UPDATE bakes SET state = ?, ended_at = ?, decision = ? WHERE id = ?",
                   (ENDED, now, json.dumps(why, sort_keys=True), row["id"]))
        return _bake(row)

    def add(self, bake_id: str, candidate: Arm, baseline: Arm,
            thresholds: Thresholds | None) -> Bake | None:
        """Add counts to a bake still baking (and set its thresholds if none are set yet);
        the bake as it stands after, or None once it has ended."""
        with immediate(self.db) as db:
            row = db.execute("SELECT * FROM bakes WHERE id = ?", (bake_id,)).fetchone()
            if row is None or row["state"] != BAKING:
                return None
            bake = _bake(row)
            if bake.thresholds is None and thresholds is not None:
                db.execute("UPDATE bakes SET thresholds = ? WHERE id = ?",
                           (json.dumps(thresholds.__dict__), bake_id))
            db.execute("UPDATE bakes SET candidate_counts = ?, baseline_counts = ? WHERE id = ?",
                       (json.dumps(bake.candidate_arm.plus(candidate).to_dict()),
                        json.dumps(bake.baseline_arm.plus(baseline).to_dict()), bake_id))
        return self.get(bake_id)

    def decide(self, bake_id: str, state: str, decision: dict[str, Any], now: float) -> bool:
        """Close a bake with its verdict; False when it was no longer baking (another process
        decided, or an operation ended it)."""
        with immediate(self.db) as db:
            done = db.execute("UPDATE bakes SET state = ?, ended_at = ?, decision = ? "
                              "WHERE id = ? AND state = ?",
                              (state, now, json.dumps(decision, sort_keys=True), bake_id,
                               BAKING))
            return done.rowcount == 1

    # reads

    def get(self, bake_id: str) -> Bake | None:
        row = self.db.execute("SELECT * FROM bakes WHERE id = ?", (bake_id,)).fetchone()
        return _bake(row) if row else None

    def baking(self, plugin: str | None = None) -> list[Bake]:
        sql, args = "SELECT * FROM bakes WHERE state = ?", [BAKING]
        if plugin is not None:
            sql, args = sql + " AND plugin = ?", [*args, plugin]
        return [_bake(r) for r in self.db.execute(sql + " ORDER BY plugin", args)]

    def history(self, plugin: str | None = None, limit: int = 100) -> list[Bake]:
        sql, args = "SELECT * FROM bakes", []
        if plugin is not None:
            sql, args = sql + " WHERE plugin = ?", [plugin]
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        return [_bake(r) for r in self.db.execute(sql, [*args, limit])]
