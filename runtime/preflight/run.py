"""The preflight decision for one manifest (pure, from data), and its edge: reading paths,
counting findings and opening a span per manifest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import trace

from contracts.catalogue import PREFLIGHT_FINDINGS, Span
from runtime.host import HostDescription
from runtime.manifest.model import Manifest
from runtime.manifest.read import ReadProblem, parse_json, read_manifest_bytes
from runtime.preflight.dependency_checks import check_dependencies
from runtime.preflight.entrypoint_checks import check_entrypoint
from runtime.preflight.findings import Finding, ManifestResult, PreflightReport, finding, is_ok
from runtime.preflight.host_checks import check_api, check_capabilities, check_host_range
from runtime.preflight.permission_checks import check_permissions
from runtime.preflight.schema_findings import validate
from runtime.registry.index import Registry
from runtime.telemetry.metrics import Metrics


@dataclass(frozen=True)
class PreflightContext:
    host: HostDescription
    registry: Registry | None = None
    strict: bool = False


def check_manifest(data: Any, ctx: PreflightContext,
                   package_dir: Path | None = None) -> tuple[Manifest | None, list[Finding]]:
    """All findings for manifest data; `package_dir` enables the entrypoint's file checks."""
    validated = validate(data)
    if isinstance(validated, list):
        return None, validated
    manifest = validated
    findings = [
        *check_host_range(manifest, ctx.host),
        *check_api(manifest, ctx.host),
        *check_capabilities(manifest, ctx.host),
        *check_permissions(manifest),
    ]
    if package_dir is not None:
        findings += check_entrypoint(manifest, package_dir)
    findings += check_dependencies(manifest, ctx.registry, ctx.host)
    return manifest, findings


def _identity(data: Any) -> tuple[str | None, str | None]:
    """Best-effort name and version of an invalid manifest, for the report."""
    if not isinstance(data, dict):
        return None, None
    name, version = data.get("name"), data.get("version")
    return (name[:64] if isinstance(name, str) else None,
            version[:64] if isinstance(version, str) else None)


def check_path(path: Path, ctx: PreflightContext, display: str | None = None) -> ManifestResult:
    shown = display or str(path)
    raw = read_manifest_bytes(path)
    data = parse_json(raw) if isinstance(raw, bytes) else raw
    if isinstance(data, ReadProblem):
        return ManifestResult(manifest=shown, plugin=None, version=None, ok=False,
                              findings=[finding(data.code, "", data.message)])
    package_dir = path if path.is_dir() else path.parent
    manifest, findings = check_manifest(data, ctx, package_dir)
    name, version = (manifest.name, manifest.version) if manifest else _identity(data)
    return ManifestResult(manifest=shown, plugin=name, version=version,
                          ok=is_ok(findings, ctx.strict), findings=findings)


def preflight_paths(paths: Iterable[Path], ctx: PreflightContext, metrics: Metrics,
                    tracer: trace.Tracer) -> PreflightReport:
    results = []
    counter = metrics.counter(PREFLIGHT_FINDINGS)
    for path in paths:
        with tracer.start_as_current_span(Span.PREFLIGHT_MANIFEST) as span:
            span.set_attribute(Span.ATTR_MANIFEST, str(path))
            result = check_path(path, ctx)
            for item in result.findings:
                counter.labels(code=item.code).inc()
            span.set_attribute(Span.ATTR_PLUGIN, result.plugin or "")
            span.set_attribute(Span.ATTR_VERSION, result.version or "")
            span.set_attribute(Span.ATTR_OK, result.ok)
            span.set_attribute(Span.ATTR_FINDINGS, len(result.findings))
        results.append(result)
    return PreflightReport(results=results)
