"""The state folder (`PLUGINOPS_HOME`): every path under it comes from here.

    journal.db                        the transaction journal (SQLite, WAL)
    approvals.db                      elevated-scope requests and decisions
    metering.db                       daily spend per plugin
    identities.db                     each plugin's worker uid (a root runtime)
    auth.db                           API tokens (hashed)
    bakes.db                          bakes: canary weight, counts per version, decisions
    rollouts.db                       fleet rollouts this home coordinated: waves, hosts, gates
    sessions.db                       the UI's sessions (digests of their ids)
    drills.db                         incidents fault drills injected, and when each was paged
    audit.log                         the hash-chained audit log
    runtime.yaml, policy.yaml         runtime settings; the org policy
    policy-history/<n>-<user>.yaml    every revision of the policy made through the UI
    plugins/<name>/versions/<v>/      immutable, side by side
    plugins/<name>/versions/.<v>.tree.json   what each file should be (size, sha256)
    plugins/<name>/current            symlink to versions/<v>, swapped atomically
    staging/<tx>/                     downloads and extraction in flight
    locks/<name>.lock                 one OS-level lock per plugin; locks/policy.lock
    logs/<tx>.log                     every transaction's log, kept after a rollback
    run/<name>/<version>/p<pid>-w<n>/ each sandbox worker's scratch, inputs and report
    serving-metrics/<pid>/            `serve --processes`: its processes' shared metric files
    keys/trusted/*.pub                publisher keys whose signatures installs accept
    keys/signing.key, signing.pub     this home's own publisher key pair (`pluginops keygen`)
    keys/gate.key                     the key release-gate records are signed with
    gates/<name>-<version>.json       release-gate records
    ui-session.key                    the key signing UI sessions
    registry/                         the default registry (`pluginops publish`)
    cache/registries/<hash>/          an HTTP registry's last index and its ETag
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

PRIVATE_KEY_FILE = "signing.key"
PUBLIC_KEY_FILE = "signing.pub"


@dataclass(frozen=True)
class Layout:
    home: Path

    # records
    @property
    def journal(self) -> Path:
        return self.home / "journal.db"

    @property
    def approvals_db(self) -> Path:
        return self.home / "approvals.db"

    @property
    def metering_db(self) -> Path:
        return self.home / "metering.db"

    @property
    def identities_db(self) -> Path:
        return self.home / "identities.db"

    @property
    def tokens_db(self) -> Path:
        return self.home / "auth.db"

    @property
    def bakes_db(self) -> Path:
        return self.home / "bakes.db"

    @property
    def rollouts_db(self) -> Path:
        return self.home / "rollouts.db"

    @property
    def sessions_db(self) -> Path:
        return self.home / "sessions.db"

    @property
    def drills_db(self) -> Path:
        return self.home / "drills.db"

    @property
    def serving_metrics(self) -> Path:
        """`serve --processes`: each supervisor's folder of its processes' metric files."""
        return self.home / "serving-metrics"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"

    # configuration
    @property
    def settings_file(self) -> Path:
        return self.home / "runtime.yaml"

    @property
    def policy_file(self) -> Path:
        return self.home / "policy.yaml"

    @property
    def policy_history(self) -> Path:
        return self.home / "policy-history"

    @property
    def policy_lock(self) -> Path:
        return self.home / "locks" / "policy.lock"

    # plugins and their transactions
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
    def runs(self) -> Path:
        """Every plugin version's workers' folders (`run_dir`)."""
        return self.home / "run"

    def run_dir(self, name: str, version: str) -> Path:
        return self.runs / name / version

    # keys and release gates
    @property
    def keys(self) -> Path:
        return self.home / "keys"

    @property
    def trusted_keys(self) -> Path:
        return self.keys / "trusted"

    @property
    def own_public_key(self) -> Path:
        return self.keys / PUBLIC_KEY_FILE

    @property
    def own_private_key(self) -> Path:
        return self.keys / PRIVATE_KEY_FILE

    @property
    def gate_key(self) -> Path:
        return self.keys / "gate.key"

    @property
    def gates(self) -> Path:
        return self.home / "gates"

    def gate_record(self, name: str, version: str) -> Path:
        return self.gates / f"{name}-{version}.json"

    @property
    def session_key(self) -> Path:
        return self.home / "ui-session.key"

    def registry_cache(self, url: str) -> Path:
        return self.home / "cache" / "registries" / hashlib.sha256(url.encode()).hexdigest()[:16]

    @property
    def default_registry(self) -> Path:
        return self.home / "registry"
