"""Which enforcement layers this machine has, for `pluginops host` and for refusing to run weaker
than the settings ask."""

from __future__ import annotations

import sys
from typing import Any

from runtime.sandbox import landlock, seccomp


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


def report(required: list[str]) -> dict[str, Any]:
    layers = available()
    missing = [name for name in required if not layers[name]["available"]]
    return {"layers": layers, "required": required, "missing": missing, "ok": not missing}
