"""Opening the runtime's SQLite files the one way they are opened: WAL, a busy timeout, rows by
name, the durability each file needs (`FULL` for records, `NORMAL` for counters), and privacy:
the file is its owner's alone (0600; SQLite gives its -wal and -shm files the same mode), so a
sandbox worker under another uid cannot read the runtime's records."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contracts.files import make_private

IN_MEMORY = Path(":memory:")  # a database that lives and dies with its connection (tests, fakes)


def open_db(path: Path, schema: str, synchronous: str = "FULL") -> sqlite3.Connection:
    if path != IN_MEMORY:
        path.parent.mkdir(parents=True, exist_ok=True)
        make_private(path)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(schema)
    return db


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taken at once (`BEGIN IMMEDIATE`: no upgrade from a read lock to
    fail later), committed on success and rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
