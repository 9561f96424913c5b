"""A real `pluginops serve` process for tests that talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stack.processes import free_port

PLUGINOPS = str(Path(sys.executable).parent / "pluginops")


@contextmanager
def running_serve(home: Path, *args: str, env: dict[str, str] | None = None,
                  before_exec: Callable[[], None] | None = None) -> Iterator[str]:
    """`pluginops serve --home HOME ARGS...` on a free port, ready; yields its base URL and
    stops it with SIGTERM. `before_exec` runs in the child first (e.g. to set an rlimit)."""
    with serve_process(home, *args, env=env, before_exec=before_exec) as (base, _):
        yield base


@contextmanager
def serve_process(home: Path, *args: str, env: dict[str, str] | None = None,
                  before_exec: Callable[[], None] | None = None, log_file: Path | None = None
                  ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_serve`, yielding the process too (for tests that kill it); its log is kept in
    `log_file` when one is given (for a failure's message)."""
    port = free_port()
    # its log goes to a file, not a pipe: a server that logs much must never block on it
    with (log_file.open("w+b") if log_file else tempfile.TemporaryFile()) as log:
        server = subprocess.Popen([PLUGINOPS, "serve", "--port", str(port), "--home",
                                   str(home), *args], stdout=subprocess.DEVNULL, stderr=log,
                                  env={**os.environ, **(env or {})}, preexec_fn=before_exec)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{base}/readyz", timeout=2)
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        log.seek(0)
                        raise AssertionError(log.read().decode() or "serve did not start") \
                            from None
                    time.sleep(0.1)
            yield base, server
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=15)
