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

import logging
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.layout import Layout
from runtime.bake.evidence import DEFAULT_WEIGHT, MIN_EXECUTIONS
from runtime.sandbox.scopes import matches

log = logging.getLogger(__name__)
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


class BakeDefaults(_Strict):
    """How updates bake unless the command says otherwise (`runtime/bake/`)."""

    always: bool = False  # every update bakes (`--no-bake` opts one out)
    weight: float = Field(DEFAULT_WEIGHT, gt=0, lt=1)
    min_executions: int = Field(MIN_EXECUTIONS, ge=1)


class OrgPolicy(_Strict):
    version: Literal[1] = 1
    allow_unsigned: bool = False
    # `required`: publish refuses bytes without a passing gate made on this host (the override is
    # --force --reason, audited); `advisory`: it publishes with a warning and an audit record.
    release_gate: Literal["required", "advisory"] = "required"
    types: dict[Literal["node", "integration", "agent", "quality_gate"], Rules] = Field(
        default_factory=dict)
    plugins: dict[str, Rules] = Field(default_factory=dict)
    bake: BakeDefaults = Field(default_factory=BakeDefaults)

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


MAX_POLICY_BYTES = 256 * 1024


def parse_policy(text: str, where: str) -> OrgPolicy:
    """A policy document says `version: 1` and follows the schema; anything else is refused
    with the field at fault (an empty document is not a policy: no file is)."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise PluginopsError(Code.POLICY_INVALID, f"more than {MAX_POLICY_BYTES} bytes",
                             where=where, next_step="a policy is a short document")
    try:
        data: Any = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise PluginopsError(Code.POLICY_INVALID, f"not YAML: {detail[:300]}", where=where,
                             next_step="fix the YAML; `pluginops policy check` validates it"
                             ) from None
    if not isinstance(data, dict) or data.get("version") not in POLICY_VERSIONS:
        found = data.get("version") if isinstance(data, dict) else type(data).__name__
        raise PluginopsError(
            Code.POLICY_VERSION_UNSUPPORTED, f"the policy needs `version: 1` (found {found!r})",
            where=where, next_step=f"use version: {', '.join(map(str, POLICY_VERSIONS))}")
    try:
        return OrgPolicy.model_validate(data)
    except (ValidationError, RecursionError) as exc:
        problem = (f"{'/'.join(map(str, exc.errors()[0]['loc']))}: {exc.errors()[0]['msg']}"
                   if isinstance(exc, ValidationError) else "nested too deeply")
        raise PluginopsError(Code.POLICY_INVALID, problem, where=where,
                             next_step="see docs/sandbox.md for the policy format") from None


class PolicySource:
    """The home's policy as it is now: read again when the file changes (an edit in the UI, by
    `pluginops`, by hand), so a serving process applies a tightened policy from its next
    execution, not from its next restart. A file that no longer parses keeps the last good
    policy in force (and says so in the log), the safe side of an edit gone wrong."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = Layout(home).policy_file
        self._stamp = self._stamp_now()
        self._policy = load_policy(home)  # at start, an unreadable policy stops the runtime

    def _stamp_now(self) -> tuple[int, int, int] | None:
        try:
            state = self.path.stat()
        except FileNotFoundError:
            return None
        return state.st_ino, state.st_mtime_ns, state.st_size

    def current(self) -> OrgPolicy:
        stamp = self._stamp_now()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._policy = load_policy(self.home)
            except PluginopsError as err:
                log.error("the org policy changed but cannot be read; the last good one "
                          "stays in force: %s", err)
        return self._policy


def load_policy(home: Path) -> OrgPolicy:
    """The home's policy; the default one when there is no policy file."""
    path = Layout(home).policy_file
    if not path.exists():
        return OrgPolicy()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginopsError(Code.POLICY_INVALID, f"not readable: {exc}", where=str(path),
                             next_step="fix the file; `pluginops policy check` validates it"
                             ) from None
    return parse_policy(text, str(path))
