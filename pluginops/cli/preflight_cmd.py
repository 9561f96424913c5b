"""`pluginops preflight`: check manifests against a host and a registry."""

from __future__ import annotations

from pathlib import Path

import click

from contracts.errors import EXIT_FAILED, EXIT_OK, PluginopsError
from contracts.layout import Layout
from pluginops.cli import wiring
from pluginops.cli.common import (
    emit_json,
    format_option,
    handles_errors,
    home_option,
    note,
    registry_dir,
    registry_option,
)
from runtime.host import HostDescription, load_host, this_host, with_version
from runtime.install.environment import open_registry
from runtime.preflight import PreflightContext, PreflightReport, preflight_paths
from runtime.preflight.changed import changed_manifests


def resolve_host(host_file: Path | None, host_version: str | None) -> HostDescription:
    if host_file is not None:
        return load_host(host_file, host_version)
    host = this_host()
    return with_version(host, host_version) if host_version else host


def render_text(report: PreflightReport) -> str:
    lines = []
    for result in report.results:
        who = f"{result.plugin or '?'} {result.version or ''}".strip()
        lines.append(f"{'ok  ' if result.ok else 'FAIL'} {result.manifest} ({who})")
        for item in result.findings:
            lines.append(f"  {item.severity.value} {item.code} at {item.field or '/'}: "
                         f"{item.message}")
            lines.append(f"    next step: {item.next_step}")
    failed = sum(1 for r in report.results if not r.ok)
    lines.append(f"{len(report.results)} manifest(s): {len(report.results) - failed} ok, "
                 f"{failed} failed")
    return "\n".join(lines)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--host", "host_file", type=click.Path(path_type=Path, dir_okay=False),
              help='Host description JSON: {"version", "api", "capabilities"}.')
@click.option("--host-version", help="Check against this host version instead.")
@registry_option
@click.option("--changed", "changed", is_flag=False, flag_value="HEAD", default=None,
              metavar="[BASE]", help="Also check every plugin changed since git revision BASE.")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@format_option
@home_option
@handles_errors
def preflight(paths: tuple[Path, ...], host_file: Path | None, host_version: str | None,
              registry: str | None, changed: str | None, strict: bool, fmt: str,
              home: Path) -> None:
    """Check plugin manifests (files or plugin folders) for compatibility.

    Exit 0 when every manifest passes, 1 when one fails, 2 on bad usage.
    """
    targets = list(paths)
    if changed is not None:
        found = changed_manifests(Path.cwd(), changed)
        note(f"{len(found)} plugin manifest(s) changed since {changed}")
        targets += [p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p
                    for p in found]
    if not targets:
        if changed is not None:
            if fmt == "json":
                emit_json({"results": []})
            raise SystemExit(EXIT_OK)
        raise PluginopsError("USAGE", "no manifest given", where="preflight",
                             next_step="pass manifests or plugin folders, or --changed BASE")
    host = resolve_host(host_file, host_version)
    reg_dir = registry_dir(registry, home)
    reg = open_registry(reg_dir, Layout(home)) if reg_dir is not None else None
    report = preflight_paths(targets, PreflightContext(host, reg, strict),
                             wiring.metrics(), wiring.tracer())
    wiring.shutdown()
    if fmt == "json":
        emit_json(report.model_dump(mode="json"))
    else:
        click.echo(render_text(report))
    raise SystemExit(EXIT_OK if report.ok else EXIT_FAILED)
