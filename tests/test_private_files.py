"""State files are private (0600) without ever being opened again once they exist: closing any
descriptor of a file drops every POSIX lock the process holds on it, and SQLite's locks are
POSIX locks, so a second look at a database must not release the first connection's locks."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

from contracts.files import make_private


def locked_elsewhere(path: Path) -> bool:
    """Whether another process finds a lock on the file."""
    probe = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
             "try:\n    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "except OSError:\n    sys.exit(3)\n")
    return subprocess.run([sys.executable, "-c", probe, str(path)], timeout=30).returncode == 3


def test_a_new_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    make_private(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_existing_file_is_made_private_and_keeps_this_process_locks(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"x")
    os.chmod(path, 0o644)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)  # as a SQLite connection of this process would hold
        assert locked_elsewhere(path)
        make_private(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert locked_elsewhere(path), "making it private released this process's lock"
    finally:
        os.close(fd)
