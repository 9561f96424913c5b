"""The health-check phase: the entry module loaded in a separate process, its health hook called,
with a timeout. The probe's output is kept in the transaction log."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROBE = Path(__file__).with_name("probe.py")
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Health:
    healthy: bool
    detail: str
    output: str


def check(version_dir: Path, entrypoint: str, timeout: float = DEFAULT_TIMEOUT_S) -> Health:
    with tempfile.TemporaryDirectory(prefix="pluginops-health-") as cwd:
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-S", str(PROBE), str(version_dir.resolve()), entrypoint],
                cwd=cwd, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            output = (exc.stderr or b"")
            text = output.decode(errors="replace") if isinstance(output, bytes) else output
            return Health(False, f"health check timed out after {timeout:g} s", text)
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if not isinstance(result, dict) or "healthy" not in result:
        return Health(False, f"health probe exited {done.returncode} without a verdict",
                      done.stdout + done.stderr)
    healthy = bool(result["healthy"]) and done.returncode == 0
    return Health(healthy, str(result.get("detail", "")), done.stdout + done.stderr)
