"""What an execution of an installed plugin needs that does not change between executions: its
manifest, grants and worker spec (the resolved package and run folders), computed once and kept
until something it was computed from changes.

It changes when the journal (an install, update, rollback, uninstall) or the approvals database
(a decision) commits, in this process or any other (`runtime/commits.py`: two reads of SQLite's
data_version, a few microseconds, where computing the plan costs a query, a manifest validation
and a few `realpath`s). A plan also lapses when an approval it relies on expires. Databases in
memory (tests' fakes) cannot be watched: their plans are computed every time."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.commits import KeptUntilCommit
from runtime.manifest.model import Manifest
from runtime.sandbox.grants import Grants
from runtime.sandbox.worker import WorkerSpec


@dataclass(frozen=True)
class Plan:
    manifest: Manifest
    grants: Grants
    spec: WorkerSpec
    until: float = math.inf  # when the first approval it relies on expires
    key: str = ""  # the worker pool's key for the spec (`pool.pool_key`)


Build = Callable[[str, float], Plan]


class Plans:
    def __init__(self, databases: tuple[Path, ...]) -> None:
        self._kept: KeptUntilCommit[Plan] = KeptUntilCommit(databases)
        self.builds = 0  # how many plans were computed (what keeping them saves is visible)

    def clear(self) -> None:
        self._kept.clear()

    def get(self, plugin: str, now: float, build: Build) -> Plan:
        plan, ticket = self._kept.get(plugin)
        if plan is not None and now < plan.until:
            return plan
        plan = build(plugin, now)
        self.builds += 1
        self._kept.put(plugin, plan, ticket)
        return plan
