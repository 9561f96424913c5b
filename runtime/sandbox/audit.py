"""The audit log: append-only JSON lines, each record carrying the hash of the one before, so
that `verify` finds any record changed, removed or reordered.

    {"seq": 3, "time": "...", "kind": "denial", ..., "prev": "<hash of record 2>",
     "hash": "<sha256 of this record without 'hash'>"}
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from contracts.files import exclusive_lock

GENESIS = "0" * 64
TAIL_CHUNK = 64 * 1024


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def seal(record: dict[str, Any], seq: int, prev: str) -> dict[str, Any]:
    """The record as the chain stores it: numbered, linked to the one before, hashed."""
    full = {**record, "seq": seq, "prev": prev}
    full["hash"] = record_hash(full)
    return full


def stamped(kind: str, at: float | None, fields: dict[str, Any]) -> dict[str, Any]:
    """`{kind, time (UTC, RFC 3339), **fields}`: the usual shape of a record."""
    return {"kind": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            **fields}


class AuditTrail(Protocol):
    """What the use cases need of an audit log (`AuditLog` on disk, `runtime.testing`'s in
    memory)."""

    def event(self, kind: str, *, at: float | None = None, **fields: Any) -> dict[str, Any]: ...

    def records(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    problem: str = ""
    line: int = 0


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add a record (durably) and return it with its seq and hashes."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.path.with_suffix(".lock")):
            seq, prev = self._tail()
            full = seal(record, seq + 1, prev)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (json.dumps(full, sort_keys=True) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        return full

    def event(self, kind: str, *, at: float | None = None, **fields: Any) -> dict[str, Any]:
        """Append `{kind, time, **fields}` (`stamped`)."""
        return self.append(stamped(kind, at, fields))

    def _tail(self) -> tuple[int, str]:
        """The last record's seq and hash, read backwards in chunks until its whole line is in
        hand: a record of any length never stops the next append."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return 0, GENESIS
        with handle:
            position = handle.seek(0, os.SEEK_END)
            tail = b""
            while position > 0:
                step = min(TAIL_CHUNK, position)
                position -= step
                handle.seek(position)
                tail = handle.read(step) + tail
                if b"\n" in tail.rstrip(b"\n"):
                    break
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if not last:
            return 0, GENESIS
        record = json.loads(last)
        return int(record["seq"]), str(record["hash"])

    def records(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def verify(self) -> Verification:
        prev, count = GENESIS, 0
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return Verification(True, 0)
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                return Verification(False, count, "not JSON", number)
            if record.get("prev") != prev:
                return Verification(False, count, "chain broken: a record before it was "
                                                  "changed, removed or reordered", number)
            if record.get("seq") != number:
                return Verification(False, count, f"seq {record.get('seq')} where {number} "
                                                  "was expected", number)
            if record.get("hash") != record_hash(record):
                return Verification(False, count, "record altered: its hash does not match",
                                    number)
            prev, count = record["hash"], count + 1
        return Verification(True, count)
