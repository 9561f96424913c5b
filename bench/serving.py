"""What the serving benchmarks share: a state folder made with the real CLI, a plugin published
into it, and a `pluginops serve` started on a free port and waited for."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
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


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A temporary folder sandboxed workers (under their own uids) may enter; removed after."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(work, 0o755)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def stop(process: subprocess.Popen[bytes], grace_s: float = 120.0) -> None:
    """SIGTERM (a server drains and exits), SIGKILL past the grace period."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Run:
    """One ApacheBench run: requests sent, 2xx answers, other answers, rate, p50 and p99."""

    sent: int
    ok: int
    non_2xx: int
    per_s: float
    p50_ms: float
    p99_ms: float


def ab(url: str, requests: int, clients: int, body: Path, token: str) -> Run:
    """POST `body` `requests` times from `clients` keep-alive connections (every one answered
    before ab returns, so counters can be held to the 2xx)."""
    args = ["ab", "-q", "-k", "-n", str(requests), "-c", str(clients), "-p", str(body),
            "-T", "application/json", "-s", "60"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=600)
    out = done.stdout
    if done.returncode != 0 or "Complete requests" not in out:
        raise SystemExit(f"ab failed: {done.stderr or out}")

    def number(pattern: str, default: str = "0") -> float:
        found = re.search(pattern, out)
        return float(found.group(1) if found else default)

    complete = int(number(r"Complete requests:\s+(\d+)"))
    non_2xx = int(number(r"Non-2xx responses:\s+(\d+)"))
    # ab counts a body of another length than the first as "failed"; only the others are
    broken = sum(int(number(rf"{kind}: (\d+)")) for kind in ("Connect", "Receive",
                                                              "Exceptions"))
    return Run(complete, complete - non_2xx - broken, non_2xx,
               number(r"Requests per second:\s+([\d.]+)"), number(r"\s50%\s+(\d+)"),
               number(r"\s99%\s+(\d+)"))
