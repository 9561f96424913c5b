"""Which declared permissions exceed the plugin type's profile, and whether each is requested
under `sandbox.elevated` (and so will need an admin's approval before activation)."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.codes import Code
from runtime.manifest.model import Manifest
from runtime.preflight.findings import Finding, finding, pointer
from runtime.profiles import PROFILES, Profile


@dataclass(frozen=True)
class Beyond:
    """One permission beyond the profile: the elevated request that would cover it."""

    kind: str
    target: str
    field: str
    why: str


def _fs_root(path: str) -> str:
    return path.split("/", 1)[0] if path.startswith("$") else "/"


def beyond_profile(manifest: Manifest, profile: Profile) -> list[Beyond]:
    perms = manifest.permissions
    out: list[Beyond] = []
    for i, grant in enumerate(perms.filesystem):
        if not profile.grants_fs(_fs_root(grant.path), grant.mode):
            out.append(Beyond("filesystem", grant.path, pointer("permissions", "filesystem", i),
                              f"{profile.name} plugins get no '{grant.mode}' access to "
                              f"{grant.path}"))
    for i, domain in enumerate(perms.network):
        if not profile.network_via_broker:
            out.append(Beyond("network", domain, pointer("permissions", "network", i),
                              f"{profile.name} plugins get no network access"))
    for i, tool in enumerate(perms.tools):
        if not profile.tools:
            out.append(Beyond("tool", tool, pointer("permissions", "tools", i),
                              f"{profile.name} plugins get no tools"))
    if perms.processes and not profile.processes:
        out.append(Beyond("process", "spawn", "/permissions/processes",
                          f"{profile.name} plugins may not start processes"))
    caps = profile.budget
    for key, asked in perms.budget.model_dump(exclude_none=True).items():
        cap = getattr(caps, key) if caps else 0
        if asked > cap:
            out.append(Beyond("budget", key, pointer("permissions", "budget", key),
                              f"{key}={asked} is above the {profile.name} profile's cap of {cap}"))
    return out


def check_permissions(manifest: Manifest) -> list[Finding]:
    profile = PROFILES[manifest.type]
    needed = beyond_profile(manifest, profile)
    requested: dict[tuple[str, str], int] = {
        (r.kind, r.target): i for i, r in enumerate(manifest.sandbox.elevated)}
    covered: set[int] = set()
    found: list[Finding] = []
    for item in needed:
        index = requested.get((item.kind, item.target))
        if index is None:
            found.append(finding(
                Code.PERMISSION_NOT_IN_PROFILE, item.field, item.why,
                f"remove it, or add {{\"kind\": \"{item.kind}\", \"target\": \"{item.target}\", "
                f"\"justification\": \"...\"}} to /sandbox/elevated"))
            continue
        covered.add(index)
        found.append(finding(
            Code.ELEVATION_REQUESTED, pointer("sandbox", "elevated", index),
            f"asks for {item.kind} '{item.target}' beyond the {profile.name} profile; it stays "
            f"awaiting approval until an admin approves it",
            f"an admin other than the author runs: pluginops approve {manifest.name} "
            f"--scope {item.kind}:{item.target} --reason ... --as USER"))
    needed_keys = {(n.kind, n.target) for n in needed}
    for i, request in enumerate(manifest.sandbox.elevated):
        if i in covered:
            continue
        field = pointer("sandbox", "elevated", i)
        if _declares(manifest, request.kind, request.target) and \
                (request.kind, request.target) not in needed_keys:
            found.append(finding(
                Code.ELEVATION_UNNEEDED, field,
                f"the {profile.name} profile already grants {request.kind} '{request.target}'"))
        else:
            found.append(finding(
                Code.ELEVATION_UNMATCHED, field,
                f"requests {request.kind} '{request.target}', which permissions do not declare",
                "declare it under /permissions, or drop this request"))
    return found


def _declares(manifest: Manifest, kind: str, target: str) -> bool:
    perms = manifest.permissions
    if kind == "filesystem":
        return any(g.path == target for g in perms.filesystem)
    if kind == "network":
        return target in perms.network
    if kind == "tool":
        return target in perms.tools
    if kind == "process":
        return perms.processes and target == "spawn"
    return getattr(perms.budget, target, None) is not None
