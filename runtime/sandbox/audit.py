"""The audit log: append-only JSON lines, each record carrying the hash of the one before, so
that `verify` finds any record changed, removed or reordered.

    {"seq": 3, "time": "...", "kind": "denial", ..., "prev": "<hash of record 2>",
     "hash": "<sha256 of this record without 'hash'>"}

Appends from every process (serve, the CLI, a setup job) serialize on an OS lock beside the log,
which the kernel releases when a holder dies. An append reads only the end of the file, backwards
until it holds the last whole line, so a record of any size never blocks the next one.

Durability: `append` writes and fsyncs each record before returning, except records appended
with `durable=False` (the API's per-execution records, the hot path): those are queued and
written, sealed and fsynced together by a background pass within SYNC_WINDOW_S, so a crash of
the process (or the machine) loses at most that window of them; `pluginops serve` writes the
queue as it stops. A process that appended last knows the chain head (seq, hash, file size and
inode) and reads nothing back while the file is as it left it.

A writer killed mid-append leaves a torn last line (no newline). The next append, `repair()`
(run when `pluginops serve` starts) or `pluginops audit repair` mends it under the lock: a torn
line that is in fact a whole record of the chain, missing only its newline, is completed; any
other fragment is moved to the `.torn` file beside the log (never silently lost) and an
`audit.repaired` record with its length and digest continues the chain.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from contracts.codes import Code
from contracts.errors import OperationFailed
from contracts.files import exclusive_lock, open_creating_folders

log = logging.getLogger(__name__)
GENESIS = "0" * 64
TAIL_CHUNK = 64 * 1024
FIRST_CHUNK = 4096  # most records are shorter: read more only when the line goes on
SYNC_WINDOW_S = 0.2  # the longest a `durable=False` record waits to be written and fsynced
REPAIRED = "audit.repaired"


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

    def event(self, kind: str, *, at: float | None = None, durable: bool = True,
              **fields: Any) -> dict[str, Any]: ...

    def records(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    problem: str = ""
    line: int = 0


@dataclass(frozen=True)
class Tail:
    """The end of the log: the last whole record's seq and hash, and what follows the last
    newline (empty unless a writer was interrupted) with its offset in the file."""
    seq: int
    hash: str
    fragment: bytes
    fragment_at: int


@dataclass(frozen=True)
class Repair:
    """What a repair did: `completed` a whole record that lacked its newline, or `discarded`
    a fragment (kept in the `.torn` file) and recorded it."""
    action: str
    bytes: int
    sha256: str


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True) + "\n").encode()


def _parsed(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def read_tail(handle: BinaryIO) -> Tail:
    """Read backwards from the end, in chunks, until the last whole line is in hand."""
    end = handle.seek(0, os.SEEK_END)
    chunks: list[bytes] = []
    position, newlines = end, 0
    while position > 0 and newlines < 2:
        step = min(FIRST_CHUNK if not chunks else TAIL_CHUNK, position)
        position -= step
        handle.seek(position)
        chunk = handle.read(step)
        chunks.insert(0, chunk)
        newlines += chunk.count(b"\n")
    data = b"".join(chunks)
    cut = data.rfind(b"\n") + 1
    last = data[:cut].rstrip(b"\n").rsplit(b"\n", 1)[-1]
    record = _parsed(last) if last else None
    if record is None:
        seq, head = (0, GENESIS) if not last else (-1, "")
    else:
        seq, head = int(record.get("seq", -1)), str(record.get("hash", ""))
    return Tail(seq, head, data[cut:], position + cut)


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn_path = path.with_suffix(".torn")
        self.lock_path = path.with_suffix(".lock")
        self._guard = threading.Lock()  # the queue
        self._writing = threading.Lock()  # one writer of this log object at a time
        # (seq, hash, file size, inode) after this process's last append
        self._head: tuple[int, str, int, int] | None = None
        self._queue: list[dict[str, Any]] = []
        self._writer: threading.Thread | None = None

    def append(self, record: dict[str, Any], durable: bool = True) -> dict[str, Any]:
        """Add a record. Durable (the default): sealed, written and fsynced before this returns,
        and returned with its seq and hashes. `durable=False` (the hot path): queued and
        returned as given; a background pass seals, writes and fsyncs the queue within
        SYNC_WINDOW_S, with one lock, one write and one fsync for the lot. A durable append
        writes the queue first: the chain keeps this process's order."""
        if not durable:
            with self._guard:
                self._queue.append(record)
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write_now_and_then,
                                                    daemon=True, name="audit-writer")
                    self._writer.start()
                    atexit.register(self.flush)  # a process that exits writes its queue
            return record
        with self._writing:
            return self._write_records([*self._take_queue(), record])[-1]

    def event(self, kind: str, *, at: float | None = None, durable: bool = True,
              **fields: Any) -> dict[str, Any]:
        """Append `{kind, time, **fields}` (`stamped`)."""
        return self.append(stamped(kind, at, fields), durable)

    @property
    def pending(self) -> int:
        """Records appended with durable=False and not written yet."""
        with self._guard:
            return len(self._queue)

    def flush(self) -> None:
        """Write and fsync the queued records now (the background pass; a server as it
        stops). If the write fails they stay queued, in order, and the error is raised."""
        with self._writing:
            queued = self._take_queue()
            if not queued:
                return
            try:
                self._write_records(queued)
            except BaseException:
                with self._guard:
                    self._queue[:0] = queued
                raise

    def _take_queue(self) -> list[dict[str, Any]]:
        with self._guard:
            queued, self._queue = self._queue, []
        return queued

    def _write_now_and_then(self) -> None:
        while True:
            time.sleep(SYNC_WINDOW_S)
            try:
                self.flush()
            except Exception:  # kept queued: the next pass, or the next durable append, retries
                log.exception("writing queued audit records failed")

    def _write_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Seal the records after the chain's head, write them in one go and fsync."""
        with self._locked() as fd:
            state = os.fstat(fd)
            head = self._head
            if head is not None and head[2:] == (state.st_size, state.st_ino):
                seq, prev = head[0], head[1]
            else:  # another process appended, or this one never did
                tail = self._mended(fd)
                seq, prev = tail.seq, tail.hash
            sealed = []
            for record in records:
                full = seal(record, seq + 1, prev)
                seq, prev = full["seq"], full["hash"]
                sealed.append(full)
            size = self._write(fd, b"".join(_line(full) for full in sealed))
            self._head = (seq, prev, size, state.st_ino)
        return sealed

    def repair(self) -> Repair | None:
        """Mend a torn last line, if there is one (what `append` does first anyway)."""
        if not self.path.exists():
            return None
        with self._locked() as fd:
            with open(fd, "rb", closefd=False) as handle:
                tail = read_tail(handle)
            if not tail.fragment:
                return None
            return self._repair(fd, tail)[1]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """The log open for appending, under the lock file beside it."""
        with exclusive_lock(self.lock_path):
            fd = open_creating_folders(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                yield fd
            finally:
                os.close(fd)

    def _mended(self, fd: int) -> Tail:
        with open(fd, "rb", closefd=False) as handle:
            tail = read_tail(handle)
        if tail.fragment:
            tail = self._repair(fd, tail)[0]
        if tail.seq < 0:
            raise OperationFailed(Code.AUDIT_LOG_UNREADABLE, "the last record of the audit "
                                  "log is not a record", where=self.path.name, http_status=503)
        return tail

    def _repair(self, fd: int, tail: Tail) -> tuple[Tail, Repair]:
        fragment = tail.fragment
        digest = hashlib.sha256(fragment).hexdigest()
        record = _parsed(fragment)
        if (record is not None and record.get("prev") == tail.hash
                and record.get("seq") == tail.seq + 1
                and record.get("hash") == record_hash(record)):
            os.write(fd, b"\n")
            os.fsync(fd)
            return (Tail(tail.seq + 1, str(record["hash"]), b"", tail.fragment_at),
                    Repair("completed", len(fragment), digest))
        torn = os.open(self.torn_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(torn, fragment + b"\n")
            os.fsync(torn)
        finally:
            os.close(torn)
        os.ftruncate(fd, tail.fragment_at)
        os.fsync(fd)
        note = seal(stamped(REPAIRED, None, {"discarded_bytes": len(fragment),
                                             "discarded_sha256": digest,
                                             "kept_in": self.torn_path.name}),
                    tail.seq + 1, tail.hash)
        self._write(fd, _line(note))
        return (Tail(note["seq"], note["hash"], b"", tail.fragment_at),
                Repair("discarded", len(fragment), digest))

    @staticmethod
    def _write(fd: int, data: bytes) -> int:
        """Append whole lines and fsync; the file's size after them."""
        written = 0
        while written < len(data):  # a short write to a regular file is rare, not impossible
            written += os.write(fd, data[written:])
        os.fsync(fd)
        return os.fstat(fd).st_size

    def _lines(self) -> Iterator[bytes]:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            yield from handle

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._lines()
                if line.endswith(b"\n") and line.strip()]

    def verify(self) -> Verification:
        prev, count = GENESIS, 0
        for number, line in enumerate(self._lines(), 1):
            if not line.endswith(b"\n"):
                return Verification(False, count, "torn last line: an append was interrupted; "
                                                  "`pluginops audit repair` mends it", number)
            record = _parsed(line)
            if record is None:
                return Verification(False, count, "not a JSON record", number)
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
