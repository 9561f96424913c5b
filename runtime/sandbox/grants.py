"""What one plugin may do when it runs: its type's profile, plus the elevated scopes approved for
it, minus whatever the org policy tightens. Pure: manifest, approvals and policy in, grants out."""

from __future__ import annotations

from dataclasses import dataclass, replace

from runtime.manifest.model import Manifest
from runtime.profiles import PROFILES, FsMode, Limits
from runtime.sandbox.policy import OrgPolicy
from runtime.sandbox.scopes import scope

BUDGET_KEYS = ("tokens_per_execution", "tokens_per_day", "cost_usd_per_execution",
               "cost_usd_per_day", "tool_calls_per_execution")


@dataclass(frozen=True)
class Grants:
    plugin: str
    version: str
    profile: str
    filesystem: tuple[tuple[str, FsMode], ...]
    network: tuple[str, ...]
    tools: tuple[str, ...]
    processes: bool
    budget: dict[str, float]
    limits: Limits

    def may_reach(self, domain: str) -> bool:
        domain = domain.lower().rstrip(".")
        for allowed in self.network:
            if allowed.startswith("*."):
                if domain.endswith(allowed[1:]) and domain != allowed[2:]:
                    return True
            elif domain == allowed:
                return True
        return False


def effective_grants(manifest: Manifest, approved: set[str], policy: OrgPolicy) -> Grants:
    profile = PROFILES[manifest.type]
    perms = manifest.permissions
    fs: dict[str, FsMode] = dict(profile.filesystem)
    for grant in perms.filesystem:
        root = grant.path.split("/", 1)[0] if grant.path.startswith("$") else grant.path
        within = root in profile.filesystem and profile.grants_fs(root, grant.mode)
        if not within and scope("filesystem", grant.path) in approved:
            fs[grant.path] = grant.mode
    network = tuple(d for d in perms.network
                    if profile.network_via_broker or scope("network", d) in approved)
    tools = tuple(t for t in perms.tools if profile.tools or scope("tool", t) in approved)
    processes = perms.processes and scope("process", "spawn") in approved
    declared = perms.budget.model_dump()
    budget: dict[str, float] = {}
    for key in BUDGET_KEYS:
        cap = float(getattr(profile.budget, key)) if profile.budget else 0.0
        asked = declared.get(key)
        if asked is None:
            budget[key] = cap
        elif asked <= cap or scope("budget", key) in approved:
            budget[key] = float(asked)
        else:
            budget[key] = cap
    limits = profile.limits
    for rules in policy.rules_for(manifest.name, manifest.type):
        for key, value in rules.limits.model_dump(exclude_none=True).items():
            limits = replace(limits, **{key: min(getattr(limits, key), value)})
        for key, value in rules.budget.model_dump(exclude_none=True).items():
            budget[key] = min(budget[key], float(value))
    return Grants(manifest.name, manifest.version, manifest.type,
                  tuple(sorted(fs.items())), network, tools, processes, budget, limits)
