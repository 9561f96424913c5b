"""What one transaction works with: the injected collaborators (`Env`) and its own state (`Tx`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from opentelemetry import trace

from contracts.layout import Layout
from runtime.host import HostDescription
from runtime.install.journal import InstalledRow, Journal
from runtime.install.phases import Injector, Reporter, SilentReporter
from runtime.manifest.model import Manifest
from runtime.registry.index import Registry
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.policy import OrgPolicy
from runtime.sandbox.worker import HealthReply
from runtime.telemetry.metrics import Metrics


class HealthDoor(Protocol):
    """Runs a version's health check inside its sandbox (`Executor.health`)."""

    def __call__(self, manifest: Manifest, timeout_s: float,
                 correlation_id: str) -> HealthReply: ...


@dataclass
class Env:
    layout: Layout
    journal: Journal
    host: HostDescription
    metrics: Metrics
    tracer: trace.Tracer
    registry: Registry | None = None
    trusted_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    allow_unsigned: bool = False
    injector: Injector = field(default_factory=Injector)
    reporter: Reporter = field(default_factory=SilentReporter)
    clock: Callable[[], float] = time.time
    health_timeout: float = 10.0
    keep_versions: int = 3
    approvals: Approvals | None = None
    policy: OrgPolicy = field(default_factory=OrgPolicy)
    requested_by: str = "unknown"
    health: HealthDoor | None = None


@dataclass
class Tx:
    id: str
    plugin: str
    operation: str
    from_version: str | None
    to_version: str | None
    env: Env
    log: TextIO
    installed: list[InstalledRow] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    locks: list[Any] = field(default_factory=list)
    phase: str | None = None

    @property
    def staging(self) -> Path:
        return self.env.layout.staging(self.id)

    def note(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.env.clock()))
        self.log.write(f"{stamp} [{self.phase or '-'}] {message}\n")
        self.log.flush()

    def event(self, kind: str, detail: dict[str, Any] | None = None) -> None:
        self.env.journal.event(self.id, kind, self.phase, detail, self.env.clock())
        self.note(f"{kind} {detail or ''}".rstrip())
