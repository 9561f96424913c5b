"""The audit log cannot be jammed or lost: records of any size, writers killed mid-append,
several processes appending at once. Real files, real processes, real signals."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from contracts.codes import Code
from contracts.errors import OperationFailed
from pluginops.cli import cli
from runtime.sandbox import audit
from runtime.sandbox.audit import REPAIRED, TAIL_CHUNK, AuditLog, seal
from tests.conftest import REPO

MEGABYTE = 1 << 20

# A writer process: appends `count` records of `size` characters, printing each record's seq and
# hash once `append` has returned (the record is then durable: the test holds the log to them).
# With `tear`, its last append writes half the record and the process kills itself, lock held.
WRITER = """
import json, os, signal, sys
from pathlib import Path
from runtime.sandbox import audit
path, who, count, size, tear = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
log = audit.AuditLog(Path(path))
for n in range(count):
    if tear and n == count - 1:
        real_write = os.write
        def torn(fd, data):
            real_write(fd, data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        audit.os.write = torn
    done = log.append({"kind": "test", "who": who, "n": n, "blob": "x" * size})
    print(json.dumps([done["seq"], done["hash"]]), flush=True)
"""


def writer(log: Path, who: str, count: int, size: int, tear: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(log), who, str(count), str(size),
                             str(int(tear))], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def acknowledged(process: subprocess.Popen[str]) -> list[tuple[int, str]]:
    out, _ = process.communicate(timeout=120)
    return [tuple(json.loads(line)) for line in out.splitlines()]  # type: ignore[misc]


def test_a_record_of_a_megabyte_is_followed_by_the_next_append(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    log.event("token.created", name="x" * MEGABYTE)  # far past the tail window of old
    assert MEGABYTE > 4 * TAIL_CHUNK
    after = log.event("token.created", name="ordinary")
    assert after["seq"] == 2 and log.verify().ok and log.verify().records == 2


def test_a_torn_last_line_is_moved_aside_and_the_repair_continues_the_chain(
        tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    first, second = log.event("a"), log.event("b")
    lost = seal({"kind": "c", "blob": "y" * 5000}, 3, second["hash"])
    fragment = json.dumps(lost, sort_keys=True).encode()[:2500]
    with path.open("ab") as handle:  # what a writer killed in the middle of os.write leaves
        handle.write(fragment)

    verdict = log.verify()
    assert (verdict.ok, verdict.line, verdict.problem.startswith("torn last line")) == (
        False, 3, True)
    after = log.event("d")

    kinds = [(r["seq"], r["kind"]) for r in log.records()]
    assert kinds == [(1, "a"), (2, "b"), (3, REPAIRED), (4, "d")]
    repaired = log.records()[2]
    assert repaired["discarded_bytes"] == len(fragment)
    assert repaired["discarded_sha256"] == hashlib.sha256(fragment).hexdigest()
    assert (tmp_path / "audit.torn").read_bytes() == fragment + b"\n"
    assert log.verify().ok and log.verify().records == 4
    assert after["prev"] == repaired["hash"] and first["seq"] == 1


def test_a_whole_record_that_lost_only_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    first = log.event("a")
    whole = seal({"kind": "b"}, 2, first["hash"])
    with path.open("ab") as handle:
        handle.write(json.dumps(whole, sort_keys=True).encode())

    repaired = log.repair()

    assert repaired is not None and repaired.action == "completed"
    assert [r["kind"] for r in log.records()] == ["a", "b"] and log.verify().ok
    assert not (tmp_path / "audit.torn").exists()
    assert log.repair() is None  # nothing left to mend


def test_a_last_record_that_is_not_a_record_stops_appends_with_a_code(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    log.event("a")
    path.write_bytes(path.read_bytes() + b"garbage that ends a line\n")
    before = path.read_bytes()
    with pytest.raises(OperationFailed) as refused:
        log.event("b")
    assert refused.value.code == Code.AUDIT_LOG_UNREADABLE
    assert "audit verify" in refused.value.next_step
    assert path.read_bytes() == before


def test_a_writer_killed_mid_append_releases_the_log_and_the_next_writer_repairs_it(
        tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    killed = writer(path, "killed", count=3, size=MEGABYTE, tear=True)
    kept = acknowledged(killed)
    assert killed.returncode == -signal.SIGKILL and len(kept) == 2
    assert not path.read_bytes().endswith(b"\n")  # it died with half a record written

    survivor = writer(path, "next", count=1, size=10)  # would hang if the lock were still held
    assert acknowledged(survivor) and survivor.returncode == 0

    log = AuditLog(path)
    assert log.verify().ok
    records = log.records()
    assert [(r["seq"], r["hash"]) for r in records[:2]] == [tuple(k) for k in kept]
    assert [r["kind"] for r in records[2:]] == [REPAIRED, "test"]
    assert records[2]["discarded_bytes"] == (path.with_suffix(".torn").stat().st_size - 1)


def test_processes_appending_at_once_serialize_into_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    writers = [writer(path, f"w{n}", count=25, size=100_000 * (n + 1)) for n in range(4)]
    kept = {(seq, digest) for process in writers for seq, digest in acknowledged(process)}
    assert all(process.returncode == 0 for process in writers)

    log = AuditLog(path)
    assert log.verify().ok and log.verify().records == 100
    assert {(r["seq"], r["hash"]) for r in log.records()} == kept
    assert sorted((r["who"], r["n"]) for r in log.records()) == sorted(
        (f"w{w}", n) for w in range(4) for n in range(25))


def test_writers_killed_at_any_moment_lose_no_acknowledged_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    writers = [writer(path, f"w{n}", count=50, size=MEGABYTE) for n in range(3)]
    firsts = []
    for process in writers:  # wait until each has appended at least once, then kill them all
        assert process.stdout is not None
        firsts.append(process.stdout.readline())
    for process in writers:
        process.kill()
    kept = set()
    for process, first in zip(writers, firsts, strict=True):
        rest, _ = process.communicate(timeout=60)
        kept |= {tuple(json.loads(line)) for line in (first + rest).splitlines()}

    log = AuditLog(path)
    log.repair()  # whether or not a kill tore a line
    assert log.verify().ok
    assert kept <= {(r["seq"], r["hash"]) for r in log.records()}


def test_audit_repair_on_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log = AuditLog(home / "audit.log")
    log.event("a")
    with (home / "audit.log").open("ab") as handle:
        handle.write(b'{"kind": "half')
    runner = CliRunner()
    broken = runner.invoke(cli, ["audit", "verify", "--home", str(home)])
    assert broken.exit_code == 1 and "torn last line" in broken.output
    repaired = runner.invoke(cli, ["audit", "repair", "--home", str(home)])
    assert repaired.exit_code == 0 and "moved aside" in repaired.output
    assert runner.invoke(cli, ["audit", "verify", "--home", str(home)]).exit_code == 0
    again = runner.invoke(cli, ["audit", "repair", "--home", str(home)])
    assert again.output == "audit log: nothing to repair\n"


def test_a_log_that_another_writer_appended_to_is_read_again_before_the_next_append(
        tmp_path: Path) -> None:
    """A writer remembers the head it wrote last, and reads the file again once it changed."""
    mine, theirs = AuditLog(tmp_path / "audit.log"), AuditLog(tmp_path / "audit.log")
    mine.event("a")
    theirs.event("b", blob="z" * 10_000)
    after = mine.event("c")
    assert after["seq"] == 3 and after["prev"] == theirs.records()[1]["hash"]
    assert mine.verify().ok


def test_hot_path_records_are_queued_then_written_in_order_with_one_fsync(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    monkeypatch.setattr(audit, "SYNC_WINDOW_S", 3600.0)  # the background pass never comes
    log = AuditLog(tmp_path / "audit.log")
    log.event("api.request", n=1)
    assert len(synced) == 1
    for n in (2, 3, 4):
        log.event("api.request", durable=False, n=n)
    assert len(synced) == 1 and log.pending == 3  # nothing written on the requests' time
    assert [r["n"] for r in AuditLog(log.path).records()] == [1]
    log.flush()  # what the background pass does, and serve as it stops
    assert len(synced) == 2 and log.pending == 0  # one write, one fsync for the three
    assert [(r["seq"], r["n"]) for r in log.records()] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    log.event("api.request", durable=False, n=5)
    log.event("token.created", n=6)  # a durable record writes the queue first: order holds
    assert [r["n"] for r in log.records()] == [1, 2, 3, 4, 5, 6] and log.verify().ok


def test_a_queue_that_cannot_be_written_stays_queued(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "SYNC_WINDOW_S", 3600.0)
    log = AuditLog(tmp_path / "audit.log")
    log.event("api.request", durable=False, n=1)
    monkeypatch.setattr(AuditLog, "_write", staticmethod(lambda fd, data: 1 / 0))
    with pytest.raises(ZeroDivisionError):
        log.flush()
    assert log.pending == 1
    monkeypatch.undo()
    log.flush()
    assert [r["n"] for r in log.records()] == [1]


def test_the_background_pass_writes_the_queue(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "SYNC_WINDOW_S", 0.01)
    log = AuditLog(tmp_path / "audit.log")
    log.event("api.request", durable=False)
    deadline = time.monotonic() + 30
    while not log.records():
        assert time.monotonic() < deadline, "no background write"
        time.sleep(0.01)
    assert [r["kind"] for r in log.records()] == ["api.request"] and log.pending == 0
