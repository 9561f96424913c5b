"""Runtime settings for executions (`<home>/runtime.yaml`, versioned): which sandbox layers are
required, the egress broker's name resolution, the model and tool back-ends, the cost model.

    version: 1
    sandbox: {layers: [rlimits, landlock, seccomp, audit],
              pool: {max_workers: 256, per_plugin: 8, memory_mb: 4096, idle_s: 300},
              worker_uids: {first: 800000, count: 65536}, tasks_per_plugin: 256}
    egress: {resolve: {status.example.com: "127.0.0.1:8081"}, timeout_s: 10}
    model: {base_url: "http://127.0.0.1:8000", model: "local"}
    tools: {web_search: {url: "http://127.0.0.1:8082/search"}}
    cost: {usd_per_cpu_second: 0.00005, usd_per_1k_tokens: 0.002, usd_per_tool_call: 0.0001}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.layout import Layout

Layer = Literal["rlimits", "landlock", "seccomp", "audit"]
ALL_LAYERS: tuple[Layer, ...] = ("rlimits", "landlock", "seccomp", "audit")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkerUids(_Strict):
    """The uids (and gids, the same numbers) a root runtime gives its plugins, one each. No
    account needs to exist for them; keep the range apart from real users, subordinate-uid
    ranges (/etc/subuid) and other homes on the same host."""

    first: int = Field(default=800_000, ge=1000, le=2**31 - 2**16)
    count: int = Field(default=65_536, ge=1, le=2**16)


class PoolSettings(_Strict):
    """The warm worker pool's bounds (runtime/sandbox/pool.py); the defaults fit a 2-core host
    with 24 GB: a worker of a small plugin holds about 16 MB resident."""
    max_workers: int = Field(default=256, ge=1, le=4096)
    per_plugin: int = Field(default=8, ge=1, le=256)
    memory_mb: int = Field(default=4096, ge=64)
    idle_s: float = Field(default=300.0, gt=0)
    wait_s: float = Field(default=5.0, ge=0, le=300)
    keep_warm: int = Field(default=8, ge=0, le=4096)


class SandboxSettings(_Strict):
    layers: list[Layer] = Field(default_factory=lambda: list(ALL_LAYERS))
    pool: PoolSettings = Field(default_factory=PoolSettings)
    worker_uids: WorkerUids = Field(default_factory=WorkerUids)
    # RLIMIT_NPROC of each plugin's uid: processes and threads of all its workers together.
    tasks_per_plugin: int = Field(default=256, ge=8, le=65_536)


class EgressSettings(_Strict):
    resolve: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # Extra certificate authorities to trust for HTTPS (a private CA, or a test stub's).
    ca_file: str | None = None


class ModelSettings(_Strict):
    base_url: str
    model: str = "default"
    api_key_env: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)


class WebSearchSettings(_Strict):
    url: str


class ToolSettings(_Strict):
    web_search: WebSearchSettings | None = None


class CostModel(_Strict):
    usd_per_cpu_second: float = Field(default=0.00005, ge=0)
    usd_per_1k_tokens: float = Field(default=0.002, ge=0)
    usd_per_tool_call: float = Field(default=0.0001, ge=0)

    def cost(self, cpu_s: float, tokens: int, tool_calls: int) -> float:
        return (cpu_s * self.usd_per_cpu_second + tokens / 1000 * self.usd_per_1k_tokens
                + tool_calls * self.usd_per_tool_call)


class RuntimeSettings(_Strict):
    version: Literal[1] = 1
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    model: ModelSettings | None = None
    tools: ToolSettings = Field(default_factory=ToolSettings)
    cost: CostModel = Field(default_factory=CostModel)


def load_settings(home: Path) -> RuntimeSettings:
    path = Layout(home).settings_file
    if not path.exists():
        return RuntimeSettings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return RuntimeSettings.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise PluginopsError(Code.SETTINGS_INVALID, str(exc).splitlines()[0][:300],
                             where=str(path),
                             next_step="see docs/sandbox.md for runtime.yaml") from None
