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
from typing import Any

from contracts.files import exclusive_lock

GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


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
            full = {**record, "seq": seq + 1, "prev": prev}
            full["hash"] = _digest(full)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (json.dumps(full, sort_keys=True) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        return full

    def event(self, kind: str, *, at: float | None = None, **fields: Any) -> dict[str, Any]:
        """Append `{kind, time (UTC, RFC 3339), **fields}`: the usual shape of a record."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
        return self.append({"kind": kind, "time": stamp, **fields})

    def _tail(self) -> tuple[int, str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 65536))
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return 0, GENESIS
        if not lines:
            return 0, GENESIS
        last = json.loads(lines[-1])
        return int(last["seq"]), str(last["hash"])

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
            if record.get("hash") != _digest(record):
                return Verification(False, count, "record altered: its hash does not match",
                                    number)
            prev, count = record["hash"], count + 1
        return Verification(True, count)
