"""Checks of a valid manifest against a host: host range, API contract, capabilities."""

from __future__ import annotations

from contracts.codes import Code
from runtime.host import HostDescription
from runtime.manifest.model import Manifest
from runtime.preflight.findings import Finding, finding
from runtime.semver import host_satisfies, parse_version, satisfies


def check_host_range(manifest: Manifest, host: HostDescription) -> list[Finding]:
    """node-semver semantics; a prerelease host is also tried as its release (policy in docs)."""
    version = parse_version(host.version)
    if satisfies(version, manifest.host):
        return []
    if host_satisfies(host.version, manifest.host):  # only through its release
        release = version.without_prerelease()
        return [finding(
            Code.HOST_PRERELEASE, "/host",
            f"host {host.version} is a prerelease; matched its release {release} against "
            f"'{manifest.host}'")]
    return [finding(
        Code.HOST_RANGE_UNSATISFIED, "/host",
        f"requires host {manifest.host}, this host is {host.version}",
        f"use a version of {manifest.name} whose host range includes {host.version}, "
        f"or run a host within {manifest.host}")]


def check_api(manifest: Manifest, host: HostDescription) -> list[Finding]:
    if host.serves_api(manifest.api):
        return []
    served = ", ".join(host.api) or "none"
    return [finding(
        Code.API_VERSION_UNSUPPORTED, "/api",
        f"built against plugin API {manifest.api}; this host serves {served}",
        f"rebuild {manifest.name} against one of {served}, or use a host that serves "
        f"{manifest.api.split('.')[0]}.x at minor {manifest.api.split('.')[1]} or above")]


def check_capabilities(manifest: Manifest, host: HostDescription) -> list[Finding]:
    offered = set(host.capabilities)
    return [
        finding(Code.CAPABILITY_MISSING, f"/capabilities/requires/{i}",
                f"requires capability '{cap}', which this host does not offer",
                f"drop '{cap}' from capabilities.requires, or use a host offering it "
                f"(this one offers: {', '.join(sorted(offered)) or 'none'})")
        for i, cap in enumerate(manifest.capabilities.requires) if cap not in offered
    ]
