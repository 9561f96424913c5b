"""Compatibility preflight: one deterministic check of a manifest against a host and a registry."""

from runtime.preflight.findings import Finding, ManifestResult, PreflightReport
from runtime.preflight.run import PreflightContext, check_manifest, preflight_paths

__all__ = [
    "Finding",
    "ManifestResult",
    "PreflightContext",
    "PreflightReport",
    "check_manifest",
    "preflight_paths",
]
