"""Durable file writes: a temp file in the same folder, fsync, rename, fsync of the folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from contracts.codes import Code


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Make a folder's files and sub-folders durable: every file, then every folder from the
    deepest up (a folder's entries are durable once the folder itself is synced)."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers see the old file or the new one, never a part."""
    with atomic_writer(path, mode) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o644) -> Iterator[Path]:
    """Yields a temporary path beside `path`; when the block ends without an exception it is
    synced and renamed over `path`, otherwise removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def open_creating_folders(path: Path, flags: int, mode: int) -> int:
    """`os.open`, making the missing folders on the way only when it has to."""
    try:
        return os.open(path, flags, mode)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, mode)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """An OS-level lock: released by the kernel when the holder dies."""
    fd = open_creating_folders(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yields an empty temporary folder beside `path`; when the block ends without an exception
    it replaces `path` whole (readers see the old folder or the new one), otherwise it is
    removed. A folder that cannot be written is a PluginopsError (OUTPUT_UNWRITABLE)."""
    import shutil

    from contracts.errors import PluginopsError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise PluginopsError(Code.OUTPUT_UNWRITABLE, f"cannot write {path}: {exc.strerror}",
                             where=str(path), next_step="choose a folder you can write to"
                             ) from None
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.rmdir(old)
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def make_private(path: Path) -> None:
    """Create the file 0600, or take group and other access away from one made before.

    A file that exists is never opened here: closing any descriptor of a file releases every
    POSIX lock this process holds on it, and SQLite's locks are POSIX locks. A connection of
    this process that lost them lets another one believe it is the last, checkpoint and reset
    the write-ahead log under it, and the first one's next write brings stale pages back (a
    bake's decision vanished that way under load)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            return
        except FileExistsError:  # made a moment ago by another thread or process
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            return  # read-only media or folder: sqlite3 reports what matters
    except OSError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError:
            return


def workers_may_enter(folder: Path) -> Path:
    """Let other users pass through a folder made private (0700, as `mkdtemp` makes them) that
    holds a state folder: sandbox workers run under their own uids and must reach their
    package and scratch folders beneath it. They can enter it, not list it (0711)."""
    os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) | 0o111)
    return folder


def make_enterable_dirs(folder: Path) -> None:
    """Make the folder and any missing parent 0755, whatever the process's umask: a sandbox
    worker under its own uid must pass through them."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir(exist_ok=True)
        os.chmod(made, 0o755)
