"""Steady traffic against the runtime's execute endpoint, with a switch for the fault."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any


def post(url: str, body: Any, token: str, timeout: float = 30.0) -> tuple[int, Any]:
    """POST JSON to the runtime's API with its Bearer token."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class Traffic:
    """Executes `plugin` `per_second` times a second until stopped; `inputs` can change."""

    def __init__(self, runtime: str, plugin: str, per_second: float, token: str) -> None:
        self.url = f"{runtime}/v1/plugins/{plugin}/execute"
        self.token = token
        self.interval = 1.0 / per_second
        self.inputs: dict[str, Any] = {}
        self.outcomes: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                _, body = post(self.url, {"inputs": self.inputs}, self.token)
                self.outcomes[body.get("outcome", "?") if isinstance(body, dict) else "?"] += 1
            except OSError:
                self.outcomes["unreachable"] += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
