"""Containment: every process a plugin starts ends with the worker that ran it.

A worker's process group is not enough: a plugin allowed to start processes can `setsid()` or
double-fork out of it. Where the machine offers a writable cgroup v2 hierarchy, each worker
joins a cgroup of its own (`<our cgroup>/pluginops-<pid>-<n>/w<serial>`) before it imports
any plugin code, and ending the worker writes `cgroup.kill`: the kernel kills every process in
it, re-parented and `setsid` descendants included. Elsewhere the worker makes itself a child
subreaper (`PR_SET_CHILD_SUBREAPER`) before it imports plugin code, so a descendant whose parent
dies is re-parented to the worker instead of init and stays in its process tree; ending the
worker stops the whole tree (SIGSTOP, until no new process appears), then kills it. The cgroup
is the boundary; the subreaper is a best effort (a plugin that can run native code inside the
worker could clear the flag), and `pluginops host` says which one is in force.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
_INSTANCES = itertools.count(1)  # each Containment has a cgroup folder of its own
END_TIMEOUT_S = 5.0


def cgroup2_root() -> Path | None:
    """This process's own cgroup v2 folder, when a cgroup2 file system is mounted writable."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        own = [line.split("::", 1)[1] for line in
               Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::")]
    except OSError:
        return None
    for line in mounts:
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "cgroup2" and "rw" in parts[3].split(","):
            folder = Path(parts[1]) / (own[0].lstrip("/") if own else "")
            if os.access(folder, os.W_OK) and (folder / "cgroup.procs").exists():
                return folder
    return None


@dataclass(frozen=True)
class Cell:
    """Where one worker lives: its cgroup folder (None under the subreaper fallback)."""

    cgroup: Path | None


class Containment:
    """Chooses the mechanism when made; `cell()` for each worker, `end()` when it ends."""

    def __init__(self, root: Path | None = None) -> None:
        found = root if root is not None else cgroup2_root()
        self.base: Path | None = None
        if found is not None:
            _end_stale(found)
            base = found / f"pluginops-{os.getpid()}-{next(_INSTANCES)}"
            try:
                base.mkdir(exist_ok=True)
                base.rmdir()  # made again for each first worker, removed with the last
            except OSError:
                pass
            else:
                self.base = base
                atexit.register(self.close)  # a runtime that exits leaves no cell behind
        self._serial = 0
        self._lock = threading.Lock()

    @property
    def mechanism(self) -> str:
        return "cgroup" if self.base is not None else "subreaper"

    def cell(self) -> Cell:
        if self.base is None:
            return Cell(None)
        with self._lock:
            self._serial += 1
            folder = self.base / f"w{self._serial}"
            try:
                self.base.mkdir(exist_ok=True)
                folder.mkdir()
            except OSError:
                return Cell(None)
        return Cell(folder)

    def end(self, cell: Cell, worker_pid: int) -> None:
        """Kill the worker and everything it started; wait until they are gone."""
        if cell.cgroup is None:
            kill_tree(worker_pid)
            return
        with self._lock:
            _kill_cgroup(cell.cgroup)
            with contextlib.suppress(OSError):  # not empty while other workers live
                cell.cgroup.parent.rmdir()

    def close(self) -> None:
        if self.base is not None and self.base.is_dir():
            with self._lock:
                _end_cgroups(self.base)


def _end_cgroups(base: Path) -> None:
    for child in base.glob("w*"):
        _kill_cgroup(child)
    with contextlib.suppress(OSError):
        base.rmdir()


def _end_stale(root: Path) -> None:
    """The cells of runtimes that died without ending their workers (killed, crashed)."""
    for base in root.glob("pluginops-*"):
        pid = base.name.split("-")[1]
        if pid.isdigit() and not Path("/proc", pid).exists():
            _end_cgroups(base)


def _kill_cgroup(folder: Path) -> None:
    with contextlib.suppress(OSError):
        (folder / "cgroup.kill").write_text("1")
    deadline = time.monotonic() + END_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if not (folder / "cgroup.procs").read_text().strip():
                break
        except OSError:
            break
        time.sleep(0.001)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # the command name may hold spaces and parentheses: the fields follow the last ")"
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(stat.parent.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """Stop a process and its descendants until no new one appears, then kill them all."""
    stopped: set[int] = set()
    for _ in range(100):
        current = {pid, *descendants(pid)}
        fresh = current - stopped
        if not fresh:
            break
        for target in fresh:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(target, signal.SIGSTOP)
        stopped |= fresh
    for target in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)
    deadline = time.monotonic() + END_TIMEOUT_S  # a killed process dies when next scheduled
    while any(_running(target) for target in stopped) and time.monotonic() < deadline:
        time.sleep(0.001)


def _running(pid: int) -> bool:
    """Alive and not yet a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def become_subreaper() -> None:
    """Called by a worker outside a cgroup, before plugin code runs."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def join(cgroup: str | None, runtime_pid: int) -> None:
    """Called by the worker itself, first thing: move into its cgroup (or become a subreaper)
    before any plugin code can run, so nothing the plugin starts is ever outside its reach; and
    watch the runtime: a worker whose runtime died (killed mid-request) ends itself and, in a
    cgroup, everything it started, through a `cgroup.kill` handle opened now, before the
    lock-down hides the cgroup file system."""
    kill_fd = None
    if cgroup:
        Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
        kill_fd = os.open(Path(cgroup, "cgroup.kill"), os.O_WRONLY)
    else:
        become_subreaper()

    def watch() -> None:
        while os.getppid() == runtime_pid:
            time.sleep(0.2)
        if kill_fd is not None:
            with contextlib.suppress(OSError):
                os.write(kill_fd, b"1")
        os._exit(70)

    threading.Thread(target=watch, name="runtime-watch", daemon=True).start()
