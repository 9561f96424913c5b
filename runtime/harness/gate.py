"""Release-gate records and the verdict `pluginops publish` takes from them.

`pluginops release-gate` writes `<home>/gates/<name>-<version>.json`: the harness report, the
sha256 of the packed plugin folder it ran on, and an HMAC-SHA256 over both made with a key that
only this home holds (`<home>/keys/gate.key`, 0600). A record is trusted only when that MAC
verifies, so a hand-written or copied record is refused; a record is for the exact bytes it was
run on, so a plugin changed by one byte since its gate has no gate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from contracts.codes import Code
from contracts.files import atomic_write_bytes
from contracts.layout import Layout

MAC_FIELD = "host_mac"
KEY_BYTES = 32


def gate_path(home: Path, name: str, version: str) -> Path:
    return Layout(home).gate_record(name, version)


def _host_key(home: Path, create: bool) -> bytes | None:
    """This home's gate key; created (0600, never overwritten) when `create` and absent."""
    path = Layout(home).gate_key
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another release-gate made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(KEY_BYTES))
                out.flush()
                os.fsync(out.fileno())
    try:
        key = path.read_bytes()
    except OSError:
        return None
    return key if len(key) == KEY_BYTES else None


def _mac(key: bytes, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def record(home: Path, report: dict[str, Any]) -> Path:
    """Write a harness report (`HarnessReport.to_dict()`) as this home's signed gate record."""
    key = _host_key(home, create=True)
    assert key is not None  # just created, or an existing key of the right length
    path = gate_path(home, report["plugin"], report["version"])
    signed = {**report, MAC_FIELD: _mac(key, report)}
    atomic_write_bytes(path, (json.dumps(signed, indent=2) + "\n").encode())
    return path


Problem = Literal["missing", "untrusted", "changed", "failed"]


@dataclass(frozen=True)
class Verdict:
    """Whether these bytes have a passing gate; when not, why, as an error code and remedy."""

    problem: Problem | None
    message: str = ""
    failed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def code(self) -> str:
        return {"missing": Code.RELEASE_GATE_MISSING, "changed": Code.RELEASE_GATE_MISSING,
                "untrusted": Code.RELEASE_GATE_UNTRUSTED,
                "failed": Code.RELEASE_GATE_FAILED}.get(self.problem or "", "")


def judge(stored: dict[str, Any] | None, trusted: bool, name: str, version: str,
          digest: str) -> Verdict:
    """The verdict for a plugin's bytes (`digest`) given its stored gate record, if any, and
    whether that record's MAC verified with this home's key."""
    label = f"{name} {version}"
    if stored is None:
        return Verdict("missing", f"{label} has no release gate")
    if not trusted:
        return Verdict("untrusted", f"{label}'s gate record was not made on this host (its "
                                    "signature does not verify)")
    if stored.get("sha256") != digest:
        return Verdict("changed", f"{label} changed since its gate (gated sha256 "
                                  f"{str(stored.get('sha256'))[:12]}…, now {digest[:12]}…)")
    failed = tuple(str(scenario) for scenario in stored.get("failed", []))
    if not stored.get("passed"):
        return Verdict("failed", f"{label} failed its release gate: {', '.join(failed)}",
                       failed)
    return Verdict(None)


def read(home: Path, path: Path) -> tuple[dict[str, Any] | None, bool]:
    """A gate record (None when absent, {} when unreadable) and whether its MAC verifies with
    this home's key."""
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return None, False
    except (OSError, ValueError):
        return {}, False
    if not isinstance(stored, dict):
        return {}, False
    key = _host_key(home, create=False)
    body = {k: v for k, v in stored.items() if k != MAC_FIELD}
    trusted = (key is not None and isinstance(stored.get(MAC_FIELD), str)
               and hmac.compare_digest(stored[MAC_FIELD], _mac(key, body)))
    return stored, trusted


def trusted_records(home: Path) -> list[dict[str, Any]]:
    """Every gate record of this home whose MAC verifies (a record copied from elsewhere or
    edited by hand is not evidence)."""
    folder = Layout(home).gates
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        stored, trusted = read(home, path)
        if stored and trusted:
            found.append(stored)
    return found


def verdict_for(home: Path, name: str, version: str, digest: str) -> Verdict:
    """Read and verify this home's gate record for the plugin, then judge it."""
    stored, trusted = read(home, gate_path(home, name, version))
    return judge(stored, trusted, name, version, digest)
