"""One operation per plugin: an exclusive `flock` on `locks/<name>.lock`.

The kernel drops the lock when its holder dies, so a crashed installer never blocks anyone; the
file's content only describes the holder for the refusal message.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from contracts.codes import Code
from contracts.errors import OperationFailed


@dataclass(frozen=True)
class Holder:
    tx_id: str
    pid: int
    operation: str
    started_at: float


class OperationInProgress(OperationFailed):
    def __init__(self, plugin: str, holder: Holder | None, now: float) -> None:
        if holder is None:
            detail = "another operation holds its lock"
        else:
            detail = (f"{holder.operation} {holder.tx_id} (pid {holder.pid}) has held it for "
                      f"{max(0.0, now - holder.started_at):.1f} s")
        super().__init__(
            Code.OPERATION_IN_PROGRESS, f"{plugin} is busy: {detail}", where=plugin,
            next_step=f"wait for it to end (`pluginops status {plugin}`), then retry")
        self.holder = holder


class PluginLock:
    """Held for the life of one transaction. Not re-entrant."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self, plugin: str, holder: Holder) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OperationInProgress(plugin, read_holder(self.path), time.time()) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder.__dict__).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text() or "null")
        return Holder(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def is_held(path: Path) -> bool:
    """True while some live process holds the lock."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
