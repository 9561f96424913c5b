"""What the serving benchmarks share: a state folder made with the real CLI, a plugin published
into it, and a `pluginops serve` started on a free port and waited for."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PLUGINOPS = str(Path(sys.executable).parent / "pluginops")


def pluginops(home: Path, *args: str) -> str:
    """Run a `pluginops` command on the home; its standard output (stop on failure)."""
    done = subprocess.run([PLUGINOPS, *args, "--home", str(home)], capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"pluginops {' '.join(args)}: {done.stderr or done.stdout}")
    return done.stdout


def publish(home: Path, sources: Path, name: str, version: str, code: str) -> None:
    """Publish a node plugin whose `main.py` is `code` (benchmark plugins have no gate)."""
    folder = sources / f"{name}-{version}"
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({
        "name": name, "version": version, "type": "node", "host": "^2.0.0", "api": "4.0",
        "description": "a benchmark plugin", "entrypoint": "main:run"}))
    (folder / "main.py").write_text(code)
    pluginops(home, "publish", str(folder), "--force", "--reason", "benchmark plugin")


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url}: not ready within a minute")
