"""Who a worker runs as: the worker's side, called before any plugin code runs.

`drop` empties the capability bounding set, leaves every supplementary group, sets the real,
effective and saved gid and uid to the plugin's, and sets `no_new_privs`; then it checks the
result rather than trusting it: all three uids and gids changed, no group left, no capability
in any set, and `setresuid(0)` refused. `cap_tasks` sets RLIMIT_NPROC, which binds only on a
process without CAP_SYS_RESOURCE and CAP_SYS_ADMIN, that is, after the drop. `unreachable`
finds the first path the worker needs that its uid cannot reach (a private parent folder such
as a 0700 home or temporary folder), so the refusal names the folder to open.
"""

from __future__ import annotations

import ctypes
import os
import resource
from pathlib import Path

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
CAP_LAST_CAP_FILE = Path("/proc/sys/kernel/cap_last_cap")
CAPABILITY_SETS = ("CapInh", "CapPrm", "CapEff", "CapAmb")


class PrivilegeError(OSError):
    pass


_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg: int) -> int:
    return int(_libc.prctl(option, arg, 0, 0, 0))


def drop(uid: int, gid: int) -> None:
    last_cap = int(CAP_LAST_CAP_FILE.read_text()) if CAP_LAST_CAP_FILE.exists() else 40
    for cap in range(last_cap + 1):
        _prctl(PR_CAPBSET_DROP, cap)  # EINVAL for a capability this kernel lacks: harmless
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if _prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
        raise PrivilegeError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    _verify(uid, gid)


def _verify(uid: int, gid: int) -> None:
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise PrivilegeError(f"the uid or gid did not change: {os.getresuid()} "
                             f"{os.getresgid()}")
    if os.getgroups() not in ([], [gid]):
        raise PrivilegeError(f"supplementary groups remain: {os.getgroups()}")
    status = dict(line.split(":\t", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":\t" in line)
    held = {name: status[name].strip() for name in CAPABILITY_SETS
            if name in status and int(status[name], 16) != 0}
    if held:
        raise PrivilegeError(f"capabilities remain: {held}")
    try:
        os.setresuid(0, 0, 0)
    except PermissionError:
        return
    raise PrivilegeError("the worker could become root again")


def cap_tasks(tasks: int) -> None:
    """At most `tasks` processes and threads for this uid, all its workers together."""
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))


def unreachable(read: list[Path], write: list[Path]) -> str | None:
    """The first needed path this process cannot reach, with the folder that stops it."""
    for paths, mode in ((read, os.R_OK), (write, os.R_OK | os.W_OK)):
        for path in paths:
            if not os.path.lexists(path) and _parents_reachable(path):
                continue  # not there (an optional grant): nothing to reach
            if os.access(path, mode):
                continue
            return f"{path}: {_blocking_folder(path)}"
    return None


def _parents_reachable(path: Path) -> bool:
    return os.access(path.parent, os.X_OK) if path.parent != path else True


def _blocking_folder(path: Path) -> str:
    for parent in reversed(path.parents):
        if not os.access(parent, os.X_OK):
            mode = oct(os.stat(parent).st_mode & 0o777) if os.access(parent.parent, os.X_OK) \
                else "?"
            return f"folder {parent} ({mode}) cannot be entered by uid {os.getuid()}"
    return f"not {'writable' if os.access(path, os.R_OK) else 'readable'} by uid {os.getuid()}"
