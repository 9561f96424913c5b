"""What the KPIs are computed from: plain rows read out of a home's records (`records.read`), or
written by hand in tests. Times are Unix seconds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attempt:
    """An install, update, rollback or uninstall: a journal transaction (`state` its final
    state, `cause` the finding or error behind a failure), or a request refused before one began
    (`state` REFUSED)."""

    plugin: str
    operation: str
    state: str
    at: float  # when it ended (started, for one still running)
    cause: str = ""


REFUSED = "refused"


@dataclass(frozen=True)
class Grant:
    plugin: str
    scope: str
    at: float


@dataclass(frozen=True)
class Usage:
    plugin: str
    day: str  # YYYY-MM-DD (UTC)
    at: float  # the day's start
    cost_usd: float
    executions: int


@dataclass(frozen=True)
class Release:
    plugin: str
    version: tuple[int, int, int]
    prerelease: bool
    at: float


@dataclass(frozen=True)
class GateRun:
    plugin: str
    version: str
    at: float
    critical_run: int
    critical_passed: int


@dataclass(frozen=True)
class Incident:
    """A fault a drill injected, and when its page reached Alertmanager (None: never)."""

    drill: str
    scenario: str
    alert: str
    at: float
    detected_s: float | None


@dataclass(frozen=True)
class Installed:
    plugin: str
    type: str
    profile: str | None  # None: the type has no sandbox profile
    problem: str | None  # what the consistency check found wrong, if anything


@dataclass
class Facts:
    attempts: list[Attempt] = field(default_factory=list)
    bake_rollbacks: list[Attempt] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    gate_runs: list[GateRun] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    installed: list[Installed] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)  # running transactions whose process died


# The production incidents a metrics store saw between two moments (`evaluator.incidents`).
IncidentReader = Callable[[float, float], list[Incident]]
