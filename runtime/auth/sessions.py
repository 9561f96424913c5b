"""UI sessions kept on the server: the signed cookie carries only a random session id, so
signing out ends the session for good (an old cookie replayed afterwards finds nothing), an idle
session ends after `idle_s` and any session after `lifetime_s`, and revoking the token ends its
sessions at their next request. Kept in SQLite: in the home's `sessions.db` when serving (every
serving process of `serve --processes` sees every session, and a restart signs no one out), in
memory otherwise. The database holds each id's digest, not the id."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runtime.auth.tokens import Principal
from runtime.sqlite import IN_MEMORY, open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid_sha256 TEXT PRIMARY KEY, token_id TEXT NOT NULL, user TEXT NOT NULL,
    role TEXT NOT NULL, csrf TEXT NOT NULL, started REAL NOT NULL, seen REAL NOT NULL);
"""
IDLE_S = 30 * 60.0
LIFETIME_S = 12 * 3600.0


@dataclass
class Session:
    principal: Principal
    csrf: str
    started: float
    seen: float


@dataclass
class Sessions:
    idle_s: float = IDLE_S
    lifetime_s: float = LIFETIME_S
    clock: Callable[[], float] = time.time
    store: Path = IN_MEMORY
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_db(self.store, SCHEMA, synchronous="NORMAL")
        return self._db

    def start(self, principal: Principal) -> str:
        now = self.clock()
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self.db.execute("DELETE FROM sessions WHERE seen < ? OR started < ?",
                            (now - self.idle_s, now - self.lifetime_s))
            self.db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (_digest(sid), principal.token_id, principal.user, principal.role,
                             secrets.token_urlsafe(32), now, now))
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session (its idle clock restarted), or None."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            row = self.db.execute("SELECT * FROM sessions WHERE sid_sha256 = ?",
                                  (_digest(sid),)).fetchone()
            if row is None:
                return None
            session = Session(Principal(row["token_id"], row["user"], row["role"]), row["csrf"],
                              row["started"], row["seen"])
            if now - session.seen > self.idle_s or now - session.started > self.lifetime_s:
                self.db.execute("DELETE FROM sessions WHERE sid_sha256 = ?", (_digest(sid),))
                return None
            session.seen = now
            self.db.execute("UPDATE sessions SET seen = ? WHERE sid_sha256 = ?",
                            (now, _digest(sid)))
            return session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self.db.execute("DELETE FROM sessions WHERE sid_sha256 = ?", (_digest(sid or ""),))


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()
