"""Where the installer keeps things under PLUGINOPS_HOME.

    journal.db                        the transaction journal (SQLite, WAL)
    plugins/<name>/versions/<v>/      immutable, side by side
    plugins/<name>/versions/.<v>.tree.json   what each file should be (size, sha256)
    plugins/<name>/current            symlink to versions/<v>, swapped atomically
    staging/<tx>/                     downloads and extraction in flight
    locks/<name>.lock                 one OS-level lock per plugin
    logs/<tx>.log                     every transaction's log, kept after a rollback
    keys/trusted/*.pub                publisher keys whose signatures installs accept
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    home: Path

    @property
    def journal(self) -> Path:
        return self.home / "journal.db"

    @property
    def plugins(self) -> Path:
        return self.home / "plugins"

    def plugin_dir(self, name: str) -> Path:
        return self.plugins / name

    def versions_dir(self, name: str) -> Path:
        return self.plugin_dir(name) / "versions"

    def version_dir(self, name: str, version: str) -> Path:
        return self.versions_dir(name) / version

    def tree_file(self, name: str, version: str) -> Path:
        return self.versions_dir(name) / f".{version}.tree.json"

    def current(self, name: str) -> Path:
        return self.plugin_dir(name) / "current"

    def staging(self, tx_id: str) -> Path:
        return self.home / "staging" / tx_id

    def lock(self, name: str) -> Path:
        return self.home / "locks" / f"{name}.lock"

    def log(self, tx_id: str) -> Path:
        return self.home / "logs" / f"{tx_id}.log"

    @property
    def trusted_keys(self) -> Path:
        return self.home / "keys" / "trusted"

    @property
    def own_public_key(self) -> Path:
        return self.home / "keys" / "signing.pub"
