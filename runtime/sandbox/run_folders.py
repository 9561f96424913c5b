"""Each warm worker's folder (scratch, inputs, report, log) under `run/<name>/<version>/`, named
after the serving process and the worker's serial there (`p<pid>-w<n>`): processes that serve
the same home (`serve --processes`, a CLI run beside a server) never share one. A process that
ended without removing its workers' folders (killed) leaves them behind; the next server to start
removes those of processes no longer running."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

NAME = re.compile(r"p(\d+)-w\d+")


def worker_folder(run_dir: Path, serial: int) -> Path:
    return run_dir / f"p{os.getpid()}-w{serial}"


def remove_orphans(run_root: Path) -> int:
    """Remove the worker folders of processes no longer running; how many."""
    removed = 0
    for folder in run_root.glob("*/*/p*-w*"):
        found = NAME.fullmatch(folder.name)
        if found and not running(int(found.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def running(pid: int) -> bool:
    """Whether a process of that id is running (its own or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: running
        return True
    return True
