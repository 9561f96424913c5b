"""Drill records: each incident a fault drill (`pluginops inject --record HOME`) caused, when it
started and how long its page took to reach Alertmanager (none: it was never detected). The
mean time to detect on the scorecard is measured from these."""

from __future__ import annotations

import uuid
from pathlib import Path

from runtime.kpi.facts import Incident
from runtime.sqlite import immediate, open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    drill TEXT NOT NULL,
    scenario TEXT NOT NULL,
    alert TEXT NOT NULL,
    injected_at REAL NOT NULL,
    detected_s REAL CHECK (detected_s IS NULL OR detected_s >= 0)
);
CREATE INDEX IF NOT EXISTS incidents_at ON incidents (injected_at);
"""


def new_drill_id() -> str:
    return uuid.uuid4().hex[:12]


def record(db_path: Path, incidents: list[Incident]) -> None:
    """Append a drill's incidents, all or none."""
    db = open_db(db_path, SCHEMA)
    try:
        with immediate(db):
            db.executemany(
                "INSERT INTO incidents (drill, scenario, alert, injected_at, detected_s) "
                "VALUES (?, ?, ?, ?, ?)",
                [(i.drill, i.scenario, i.alert, i.at, i.detected_s) for i in incidents])
    finally:
        db.close()
