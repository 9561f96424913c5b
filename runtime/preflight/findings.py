"""A preflight finding and a manifest's result (docs/architecture.md, "Preflight findings")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from contracts.codes import Severity
from runtime.preflight.codes import info


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity
    field: str
    message: str
    next_step: str


def finding(code: str, field: str, message: str, next_step: str = "",
            severity: Severity | None = None) -> Finding:
    """A finding whose severity and default next step come from the code table."""
    entry = info(code)
    return Finding(code=code, severity=severity or entry.severity, field=field,
                   message=message, next_step=next_step or entry.remedy)


class ManifestResult(BaseModel):
    manifest: str
    plugin: str | None
    version: str | None
    ok: bool
    findings: list[Finding]


class PreflightReport(BaseModel):
    results: list[ManifestResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def is_ok(findings: list[Finding], strict: bool) -> bool:
    failing = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
    return not any(f.severity in failing for f in findings)


def pointer(*parts: object) -> str:
    """A JSON Pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
