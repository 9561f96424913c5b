"""One harness run over a plugin folder: every scenario and a verdict (`runtime.harness.gate`
records it for `pluginops publish`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.harness import golden
from runtime.harness.scenarios import (
    Plan,
    ScenarioResult,
    load_manifest,
    run_one,
    scenarios,
)
from runtime.host import API_VERSIONS
from runtime.registry.pack import pack


@dataclass
class HarnessReport:
    plugin: str
    version: str
    digest: str  # sha256 of the packed plugin folder: a gate verdict is for these bytes only
    results: list[ScenarioResult]
    finished_at: float

    @property
    def failed_critical(self) -> list[ScenarioResult]:
        return [r for r in self.results if r.critical and r.status == "failed"]

    @property
    def passed(self) -> bool:
        return not self.failed_critical

    def to_dict(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "version": self.version, "sha256": self.digest,
                "passed": self.passed,
                "failed": [r.name for r in self.failed_critical],
                "scenarios": [r.to_dict() for r in self.results],
                "finished_at": self.finished_at}


def digest_of(plugin_dir: Path) -> str:
    return hashlib.sha256(pack(plugin_dir)).hexdigest()


def plan_for(plugin_dir: Path, previous: list[Path], registry: Path | None,
             trust: tuple[Path, ...], api_versions: tuple[str, ...] = API_VERSIONS) -> Plan:
    return Plan(plugin_dir, golden.load(plugin_dir), load_manifest(plugin_dir), previous,
                registry, trust, api_versions)


def run(plan: Plan, only: set[str] | None = None,
        progress: Callable[[ScenarioResult], None] | None = None) -> HarnessReport:
    results = []
    for name, critical, scenario in scenarios(plan):
        if only and name not in only and name.split("@")[0] not in only:
            continue
        result = run_one(name, critical, scenario, plan)
        results.append(result)
        if progress:
            progress(result)
    return HarnessReport(plan.manifest.name, plan.manifest.version,
                         digest_of(plan.plugin_dir), results, time.time())
