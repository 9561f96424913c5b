"""A real `pluginops serve` process for tests that talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack.processes import free_port

PLUGINOPS = str(Path(sys.executable).parent / "pluginops")


@contextmanager
def running_serve(home: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`pluginops serve --home HOME ARGS...` on a free port, ready; yields its base URL and
    stops it with SIGTERM."""
    port = free_port()
    server = subprocess.Popen([PLUGINOPS, "serve", "--port", str(port), "--home", str(home),
                               *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(server.stderr.read().decode() if server.stderr
                                         else "serve did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
