"""A runtime host's API as the coordinator uses it: a plugin's status, update and rollback,
with the host's token; a host that cannot be reached, or answers without JSON, is
FLEET_HOST_FAILED; an answer with an error (refused, rolled back) is returned for the
coordinator to record."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from contracts.codes import Code
from contracts.errors import PluginopsError
from fleet.hosts import FleetHost

OPERATION_TIMEOUT_S = 300.0  # an update downloads, verifies and health-checks


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> str:
        error = self.body.get("error") or {}
        return f"{error.get('code', self.status)}: {error.get('message', '')}".strip()


class HostApi:
    def __init__(self, host: FleetHost) -> None:
        self.host = host
        self._context = ssl.create_default_context(cafile=host.ca_file) \
            if host.url.startswith("https:") else None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              timeout: float = 30.0) -> Answer:
        request = urllib.request.Request(
            f"{self.host.url}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.host.token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout,
                                        context=self._context) as response:
                return Answer(response.status, json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            try:
                return Answer(exc.code, json.loads(exc.read() or b"{}"))
            except ValueError:
                return Answer(exc.code, {"error": {"code": f"HTTP_{exc.code}",
                                                   "message": str(exc.reason)}})
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PluginopsError(Code.FLEET_HOST_FAILED, f"{self.host.name} "
                                 f"({self.host.url}): {getattr(exc, 'reason', exc)}",
                                 where=self.host.name,
                                 next_step="check that the host's runtime is up and reachable "
                                           "(and its TLS CA), then run the rollout again") \
                from None

    def status(self, plugin: str) -> Answer:
        return self._call("GET", f"/v1/plugins/{plugin}")

    def update(self, plugin: str, version: str) -> Answer:
        return self._call("POST", f"/v1/plugins/{plugin}/update", {"version": version,
                                                                   "bake": False},
                          timeout=OPERATION_TIMEOUT_S)

    def rollback(self, plugin: str, to: str) -> Answer:
        return self._call("POST", f"/v1/plugins/{plugin}/rollback", {"to": to},
                          timeout=OPERATION_TIMEOUT_S)
