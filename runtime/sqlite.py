"""Opening the runtime's SQLite files the one way they are opened: WAL, a busy timeout, rows by
name, and the durability each file needs (`FULL` for records, `NORMAL` for counters)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_db(path: Path, schema: str, synchronous: str = "FULL") -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(schema)
    return db
