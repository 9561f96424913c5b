"""Who a worker runs as: the runtime's side.

A runtime that runs as root gives each plugin an unprivileged uid and gid of its own, taken from
a configured range (`sandbox.worker_uids` in runtime.yaml) the first time the plugin runs,
recorded in `<home>/identities.db` and never given to another plugin, even after an uninstall
(a new owner would inherit what the old one left). The worker drops to it before the plugin is
imported (`runtime.sandbox.privileges`). Then other plugins' workers and the runtime are another
user (no signal, no ptrace, no `/proc/<pid>/mem`), the runtime's state files (0600, root) are
unreadable even where a deeper layer failed, and the kernel's per-user task limit
(`RLIMIT_NPROC`) binds on the plugin's own processes and threads.

A runtime that is not root cannot change uid: its workers run as its own user, every other layer
is unchanged, and RLIMIT_NPROC is left alone (it would count the runtime's own processes); the
cgroup and seccomp still bound what a plugin may start. `pluginops host` says which applies.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.sqlite import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    plugin TEXT PRIMARY KEY,
    uid INTEGER NOT NULL UNIQUE,
    assigned_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Identity:
    """The uid and gid a plugin's workers run as, and its task cap (RLIMIT_NPROC)."""

    uid: int
    gid: int
    tasks: int


def can_assign() -> bool:
    """Only root can start a process under another uid."""
    return os.geteuid() == 0


class IdentityBook:
    """The per-plugin identities of one home. Lookups after the first are served from memory:
    an assignment never changes."""

    def __init__(self, path: Path, first_uid: int, count: int, tasks: int) -> None:
        self.path = path
        self.first_uid = first_uid
        self.count = count
        self.tasks = tasks
        self._known: dict[str, Identity] = {}
        self._lock = threading.Lock()

    def for_plugin(self, plugin: str) -> Identity | None:
        """The plugin's identity (assigned now if it has none); None when this runtime cannot
        change uid."""
        if not can_assign():
            return None
        with self._lock:
            known = self._known.get(plugin)
            if known is None:
                known = self._known[plugin] = self._assign(plugin)
            return known

    def _assign(self, plugin: str) -> Identity:
        db = open_db(self.path, SCHEMA)
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT uid FROM identities WHERE plugin = ?", (plugin,)).fetchone()
            if row is None:
                top = db.execute("SELECT MAX(uid) FROM identities").fetchone()[0]
                uid = self.first_uid if top is None else max(int(top) + 1, self.first_uid)
                if uid >= self.first_uid + self.count:
                    db.execute("ROLLBACK")
                    raise PluginopsError(
                        Code.SANDBOX_IDENTITIES_EXHAUSTED,
                        f"all {self.count} worker uids from {self.first_uid} are assigned",
                        where=str(self.path),
                        next_step="widen sandbox.worker_uids.count in runtime.yaml")
                db.execute("INSERT INTO identities (plugin, uid, assigned_at) VALUES (?, ?, ?)",
                           (plugin, uid, time.time()))
            else:
                uid = int(row["uid"])
            db.execute("COMMIT")
        finally:
            db.close()
        return Identity(uid, uid, self.tasks)


def hand_over(folder: Path, identity: Identity | None) -> None:
    """Make `folder` the worker's own (0700): where it writes (scratch, report)."""
    if identity is not None:
        os.chown(folder, identity.uid, identity.gid)
        os.chmod(folder, 0o700)
