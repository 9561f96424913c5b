"""Which enforcement layers this machine has, for `pluginops host` and for refusing to run weaker
than the settings ask."""

from __future__ import annotations

import os
import sys
from typing import Any

from runtime.sandbox import landlock, seccomp
from runtime.sandbox.containment import cgroup2_root
from runtime.sandbox.identity import can_assign


def available() -> dict[str, dict[str, Any]]:
    abi = landlock.abi_version()
    return {
        "rlimits": {"available": True, "detail": "CPU, address space, file size, open files"},
        "landlock": {"available": abi > 0,
                     "detail": f"ABI {abi}" if abi else "not in this kernel"},
        "seccomp": {"available": seccomp.available(),
                    "detail": "libseccomp via pyseccomp" if seccomp.available()
                    else "libseccomp or pyseccomp missing"},
        "audit": {"available": hasattr(sys, "addaudithook"),
                  "detail": "PEP 578 audit hooks (deny-and-log, not a boundary)"},
    }


def containment() -> dict[str, Any]:
    """How the processes a plugin starts are ended with its worker (runtime.sandbox.containment)."""
    root = cgroup2_root()
    if root is not None:
        return {"mechanism": "cgroup", "detail": f"a cgroup v2 per worker under {root}, ended "
                                                 "with cgroup.kill"}
    return {"mechanism": "subreaper", "detail": "no writable cgroup v2: each worker is a child "
                                                "subreaper and its process tree is stopped and "
                                                "killed (best effort)"}


def identity() -> dict[str, Any]:
    """Who workers run as (runtime.sandbox.identity)."""
    if can_assign():
        return {"mechanism": "per-plugin-uid",
                "detail": "each plugin's workers run under its own unprivileged uid and gid "
                          "(no groups, no capabilities, no_new_privs); RLIMIT_NPROC binds"}
    return {"mechanism": "runtime-uid",
            "detail": f"the runtime is not root: workers run as uid {os.getuid()}, as it does; "
                      "RLIMIT_NPROC is not set (it would count the runtime's own processes); "
                      "run the runtime as root to give each plugin a uid of its own "
                      "(docs/sandbox.md, \"No root in a worker\")"}


def report(required: list[str]) -> dict[str, Any]:
    layers = available()
    missing = [name for name in required if not layers[name]["available"]]
    return {"layers": layers, "required": required, "missing": missing, "ok": not missing,
            "containment": containment(), "identity": identity()}
