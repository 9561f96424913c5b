"""Least-privilege sandbox profiles, one per plugin type, as data.

Preflight uses them to tell which declared permissions need an elevated request; the sandbox
enforces them at run time. Filesystem roots are symbolic: `$package` (the plugin's own immutable
folder), `$scratch` (a per-execution folder), `$inputs` and `$report` (a quality gate's files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

FsMode = Literal["r", "rw"]
FS_ROOTS = ("$package", "$scratch", "$inputs", "$report")


@dataclass(frozen=True)
class Limits:
    """Per-execution resource caps."""

    cpu_seconds: float
    memory_mb: int
    wall_seconds: float
    open_files: int
    output_bytes: int


@dataclass(frozen=True)
class BudgetCaps:
    """The most an agent may be given without an elevated request."""

    tokens_per_execution: int
    tokens_per_day: int
    cost_usd_per_execution: float
    cost_usd_per_day: float
    tool_calls_per_execution: int


@dataclass(frozen=True)
class Profile:
    name: str
    filesystem: MappingProxyType[str, FsMode]
    network_via_broker: bool
    tools: bool
    processes: bool
    limits: Limits
    budget: BudgetCaps | None = None
    notes: tuple[str, ...] = field(default=())

    def grants_fs(self, root: str, mode: FsMode) -> bool:
        granted = self.filesystem.get(root)
        return granted is not None and (granted == "rw" or mode == "r")


_SMALL = Limits(cpu_seconds=10, memory_mb=256, wall_seconds=30, open_files=64,
                output_bytes=1 << 20)
_AGENT = Limits(cpu_seconds=30, memory_mb=512, wall_seconds=120, open_files=64,
                output_bytes=4 << 20)

PROFILES: MappingProxyType[str, Profile] = MappingProxyType({
    "node": Profile(
        "node", MappingProxyType({"$package": "r", "$scratch": "rw"}),
        network_via_broker=False, tools=False, processes=False, limits=_SMALL,
    ),
    "integration": Profile(
        "integration", MappingProxyType({"$package": "r", "$scratch": "rw"}),
        network_via_broker=True, tools=False, processes=False, limits=_SMALL,
        notes=("network only to the domains the manifest lists, through the egress broker",),
    ),
    "agent": Profile(
        "agent", MappingProxyType({"$package": "r", "$scratch": "rw"}),
        network_via_broker=False, tools=True, processes=False, limits=_AGENT,
        budget=BudgetCaps(tokens_per_execution=8000, tokens_per_day=200_000,
                          cost_usd_per_execution=0.5, cost_usd_per_day=20.0,
                          tool_calls_per_execution=20),
        notes=("model and tool calls only through host APIs, metered",),
    ),
    "quality_gate": Profile(
        "quality_gate",
        MappingProxyType({"$package": "r", "$scratch": "rw", "$inputs": "r", "$report": "rw"}),
        network_via_broker=False, tools=False, processes=False, limits=_SMALL,
    ),
})
