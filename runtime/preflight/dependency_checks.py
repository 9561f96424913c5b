"""Dependency findings from a resolution against the registry."""

from __future__ import annotations

from contracts.codes import Code
from runtime.host import HostDescription
from runtime.manifest.model import Manifest
from runtime.preflight.findings import Finding, finding, pointer
from runtime.registry.index import Registry
from runtime.resolver import Failure, resolve

FINDING_BY_KIND = {
    "not_found": Code.DEPENDENCY_NOT_FOUND,
    "unsatisfiable": Code.DEPENDENCY_UNSATISFIABLE,
    "conflict": Code.DEPENDENCY_CONFLICT,
    "too_deep": Code.DEPENDENCY_CONFLICT,
    "cycle": Code.DEPENDENCY_CYCLE,
}


def _message(failure: Failure) -> str:
    if failure.kind == "cycle":
        return f"dependency cycle: {failure.detail}"
    chains = "; ".join(" -> ".join(chain) for chain in failure.chains)
    return f"{failure.detail} (required by {chains})" if chains else failure.detail


def _field(manifest: Manifest, failure: Failure) -> str:
    if failure.via in manifest.dependencies:
        return pointer("dependencies", failure.via)
    return "/dependencies"


def check_dependencies(manifest: Manifest, registry: Registry | None,
                       host: HostDescription) -> list[Finding]:
    if not manifest.dependencies:
        return []
    if registry is None:
        return [finding(Code.DEPENDENCIES_UNCHECKED, "/dependencies",
                        f"{len(manifest.dependencies)} dependencies not resolved: no registry")]
    resolution = resolve(manifest, registry, host)
    return [finding(FINDING_BY_KIND[f.kind], _field(manifest, f), _message(f))
            for f in resolution.failures]
