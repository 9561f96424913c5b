"""Phases of a transaction, and the two things tests and the fault injector vary: a phase that
fails on purpose, and a point where the process kills itself (crash tests)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Protocol

from contracts.catalogue import INSTALL_PHASES
from contracts.codes import Code
from contracts.errors import OperationFailed

DOWNLOAD, VERIFY, DEPENDENCY_PREPARE, ACTIVATE, HEALTH_CHECK = INSTALL_PHASES

PHASES_BY_OPERATION: dict[str, tuple[str, ...]] = {
    "install": INSTALL_PHASES,
    "update": INSTALL_PHASES,
    "rollback": (VERIFY, ACTIVATE, HEALTH_CHECK),
    "uninstall": (VERIFY, ACTIVATE),
}

# Crash points beyond the phase boundaries, inside the phases where a crash is most harmful.
MID_POINTS = ("mid:download", "mid:verify", "mid:activate:placed", "mid:activate:swapped",
              "mid:commit:before", "mid:commit:after")


class InjectedFailure(OperationFailed):
    def __init__(self, phase: str) -> None:
        super().__init__(Code.INJECTED_FAILURE, f"failure injected into phase {phase}",
                         where=phase, next_step="none: this failure was asked for "
                                                "(--inject-failure or PLUGINOPS_INJECT_FAILURE)")


@dataclass(frozen=True)
class Injector:
    """`fail_phase`: that phase raises. `crash_at`: at that point the process SIGKILLs itself
    (`before:PHASE`, `after:PHASE` or one of MID_POINTS)."""

    fail_phase: str | None = None
    crash_at: str | None = None

    def fail(self, phase: str) -> None:
        if phase == self.fail_phase:
            raise InjectedFailure(phase)

    def point(self, label: str) -> None:
        if label == self.crash_at:
            os.kill(os.getpid(), signal.SIGKILL)


def valid_crash_points() -> list[str]:
    return ([f"before:{p}" for p in INSTALL_PHASES] + [f"after:{p}" for p in INSTALL_PHASES]
            + list(MID_POINTS))


class Reporter(Protocol):
    """Progress for people: the CLI draws it, the API and tests ignore it."""

    def phase(self, plugin: str, version: str | None, operation: str, index: int, total: int,
              phase: str) -> None: ...

    def download(self, done: int, total: int) -> None: ...

    def done(self) -> None: ...


class SilentReporter:
    def phase(self, plugin: str, version: str | None, operation: str, index: int, total: int,
              phase: str) -> None:
        return None

    def download(self, done: int, total: int) -> None:
        return None

    def done(self) -> None:
        return None
