"""What an execution of an installed plugin needs that does not change between executions: its
manifest, grants and worker spec (the resolved package and run folders), computed once and kept
until something it was computed from changes.

It changes when the journal (an install, update, rollback, uninstall) or the approvals database
(a decision) commits, in this process or any other: SQLite's `PRAGMA data_version` on a
connection of our own, which only ever reads, moves on every commit by any other connection; two
such reads cost an execution a few microseconds, where computing the plan costs a query, a
manifest validation and a few `realpath`s. A plan also lapses when an approval it relies on
expires. Databases in memory (tests' fakes) cannot be watched: their plans are computed every
time."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.manifest.model import Manifest
from runtime.sandbox.grants import Grants
from runtime.sandbox.worker import WorkerSpec
from runtime.sqlite import IN_MEMORY


@dataclass(frozen=True)
class Plan:
    manifest: Manifest
    grants: Grants
    spec: WorkerSpec
    until: float = math.inf  # when the first approval it relies on expires


Build = Callable[[str, float], Plan]


class Plans:
    def __init__(self, databases: tuple[Path, ...]) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, Plan] = {}
        self._version: tuple[int, ...] | None = None
        self._databases = () if IN_MEMORY in databases else databases
        self._watch: list[sqlite3.Connection] = []
        self.builds = 0  # how many plans were computed (what the cache saves is visible)

    def _versions(self) -> tuple[int, ...] | None:
        """Each database's data_version; None while one cannot be watched (not created yet)."""
        if not self._databases:
            return None
        if not self._watch:
            try:
                self._watch = [sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True,
                                               check_same_thread=False)
                               for path in self._databases]
            except sqlite3.Error:
                self.close()
                return None
        return tuple(int(db.execute("PRAGMA data_version").fetchone()[0]) for db in self._watch)

    def get(self, plugin: str, now: float, build: Build) -> Plan:
        with self._lock:
            version = self._versions()
            if version is not None and version != self._version:
                self._plans.clear()
                self._version = version
            plan = self._plans.get(plugin) if version is not None else None
        if plan is not None and now < plan.until:
            return plan
        plan = build(plugin, now)  # read after the version: a commit in between clears it next
        with self._lock:
            self.builds += 1
            if version is not None and self._version == version:
                self._plans[plugin] = plan
        return plan

    def close(self) -> None:
        watched, self._watch = self._watch, []
        for db in watched:
            db.close()
