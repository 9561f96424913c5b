"""The org policy: a versioned YAML file (`<home>/policy.yaml`) that can forbid elevated scopes,
approve them automatically, or tighten limits and budgets, per plugin type or per plugin.

    version: 1
    allow_unsigned: false
    release_gate: required     # or advisory: publish warns instead of refusing
    types:
      agent:
        forbid: ["process:*"]
        budget: {tokens_per_execution: 4000}
    plugins:
      research-agent:
        auto_approve: ["tool:web_search"]
        limits: {wall_seconds: 20}

Tightening only ever lowers a number; a rule that would loosen a profile is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.errors import PluginopsError
from runtime.sandbox.scopes import matches

POLICY_FILE = "policy.yaml"
POLICY_VERSIONS = (1,)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitOverrides(_Strict):
    cpu_seconds: float | None = Field(default=None, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    wall_seconds: float | None = Field(default=None, gt=0)
    open_files: int | None = Field(default=None, gt=0)
    output_bytes: int | None = Field(default=None, gt=0)


class BudgetOverrides(_Strict):
    tokens_per_execution: int | None = Field(default=None, ge=0)
    tokens_per_day: int | None = Field(default=None, ge=0)
    cost_usd_per_execution: float | None = Field(default=None, ge=0)
    cost_usd_per_day: float | None = Field(default=None, ge=0)
    tool_calls_per_execution: int | None = Field(default=None, ge=0)


class Rules(_Strict):
    forbid: list[str] = Field(default_factory=list)
    auto_approve: list[str] = Field(default_factory=list)
    limits: LimitOverrides = Field(default_factory=LimitOverrides)
    budget: BudgetOverrides = Field(default_factory=BudgetOverrides)


class OrgPolicy(_Strict):
    version: Literal[1] = 1
    allow_unsigned: bool = False
    # `required`: publish refuses bytes without a passing gate made on this host (the override is
    # --force --reason, audited); `advisory`: it publishes with a warning and an audit record.
    release_gate: Literal["required", "advisory"] = "required"
    types: dict[Literal["node", "integration", "agent", "quality_gate"], Rules] = Field(
        default_factory=dict)
    plugins: dict[str, Rules] = Field(default_factory=dict)

    def rules_for(self, plugin: str, plugin_type: str) -> list[Rules]:
        found = []
        if plugin_type in self.types:
            found.append(self.types[plugin_type])
        if plugin in self.plugins:
            found.append(self.plugins[plugin])
        return found

    def decision(self, plugin: str, plugin_type: str, scope: str) -> str:
        """`forbidden`, `auto_approved` or `needs_approval`. Forbid wins over auto-approve."""
        rules = self.rules_for(plugin, plugin_type)
        if any(matches(p, scope) for r in rules for p in r.forbid):
            return "forbidden"
        if any(matches(p, scope) for r in rules for p in r.auto_approve):
            return "auto_approved"
        return "needs_approval"


def load_policy(home: Path) -> OrgPolicy:
    path = home / POLICY_FILE
    if not path.exists():
        return OrgPolicy()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PluginopsError("POLICY_INVALID", f"not readable YAML: {exc}", where=str(path),
                             next_step="fix the YAML; `pluginops policy check` validates it"
                             ) from None
    if isinstance(data, dict) and data.get("version") not in POLICY_VERSIONS:
        raise PluginopsError(
            "POLICY_VERSION_UNSUPPORTED", f"policy version {data.get('version')!r}",
            where=str(path), next_step=f"use version: {', '.join(map(str, POLICY_VERSIONS))}")
    try:
        return OrgPolicy.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first["loc"])
        raise PluginopsError("POLICY_INVALID", f"{where}: {first['msg']}", where=str(path),
                             next_step="see docs/sandbox.md for the policy format") from None
