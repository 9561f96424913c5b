"""Has anything committed to these SQLite databases since I last looked? Asked on every
execution and every authenticated request, so it must cost microseconds and take no lock that
threads queue on.

Each thread reads `PRAGMA data_version` on read-only connections of its own: the value moves
whenever another connection, in this process or any other, commits. Values are per connection,
so what threads share is a generation number, moved on (under a lock held for an increment)
whenever a thread sees its values change, and also at a thread's first look, which has no
earlier value to compare with. Whatever was computed from the databases under generation G is
good while the generation is still G: every commit is seen by the next look of any thread,
which moves the generation."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Generic, TypeVar

from runtime.sqlite import IN_MEMORY

V = TypeVar("V")


class CommitWatch:
    def __init__(self, databases: tuple[Path, ...]) -> None:
        # databases in memory belong to one connection: nothing else can watch them
        self._databases = () if IN_MEMORY in databases else databases
        self._local = threading.local()
        self._lock = threading.Lock()
        self.generation = 0

    def look(self) -> int | None:
        """The current generation, after taking this thread's look; None: cannot watch (a
        database in memory, or one not created yet), so nothing may be kept."""
        if not self._databases:
            return None
        local = self._local
        connections: list[sqlite3.Connection] | None = getattr(local, "connections", None)
        if connections is None:
            try:
                connections = [sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro",
                                               uri=True) for path in self._databases]
            except sqlite3.Error:
                return None
            local.connections, local.versions = connections, None
        try:
            versions = tuple(int(db.execute("PRAGMA data_version").fetchone()[0])
                             for db in connections)
        except sqlite3.Error:
            return None
        if versions != local.versions:
            local.versions = versions
            with self._lock:
                self.generation += 1
        return self.generation


class KeptUntilCommit(Generic[V]):
    """Values computed from the databases, kept until any of them commits. `get` returns the
    kept value (or None) and a ticket; `put` keeps a value computed after that `get` only if
    nothing committed in between (the ticket is still current)."""

    def __init__(self, databases: tuple[Path, ...], cap: int = 100_000) -> None:
        self._watch = CommitWatch(databases)
        self._lock = threading.Lock()  # held for dictionary operations only
        self._kept: dict[str, V] = {}
        self._generation: int | None = None
        self.cap = cap

    def get(self, key: str) -> tuple[V | None, int | None]:
        generation = self._watch.look()
        if generation is None:
            return None, None
        with self._lock:
            if self._generation is None or generation > self._generation:
                self._kept.clear()
                self._generation = generation
            if generation != self._generation:  # a look older than the newest one
                return None, None
            return self._kept.get(key), generation

    def clear(self) -> None:
        """Forget everything kept (something else they were computed from changed)."""
        with self._lock:
            self._kept.clear()

    def put(self, key: str, value: V, ticket: int | None) -> None:
        with self._lock:
            if ticket is not None and ticket == self._generation == self._watch.generation \
                    and len(self._kept) < self.cap:
                self._kept[key] = value
