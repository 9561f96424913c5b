"""`pluginops harness`, `pluginops release-gate` and `pluginops matrix`: the golden lifecycle of
a plugin against a real runtime in a temporary home (docs/harness.md). The harness is imported
when one of these runs, so other commands start without it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from contracts.errors import EXIT_FAILED
from contracts.layout import Layout
from pluginops.cli.common import emit_json, format_option, handles_errors, home_option, note
from runtime.host import load_host, this_host

if TYPE_CHECKING:
    from runtime.harness.run import HarnessReport
    from runtime.harness.scenarios import ScenarioResult

MARKS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


def _show(result: ScenarioResult) -> None:
    detail = f": {result.detail}" if result.detail else ""
    note(f"  {MARKS[result.status]} {result.name} ({result.seconds:.1f} s){detail}")


def api_versions(hosts: tuple[Path, ...]) -> tuple[str, ...]:
    served = set(this_host().api)
    for path in hosts:
        served.update(load_host(path).api)
    return tuple(sorted(served, key=lambda v: tuple(int(p) for p in v.split("."))))


def _run(plugin_dir: Path, previous: tuple[Path, ...], registry: Path | None,
         trust: tuple[Path, ...], only: tuple[str, ...], hosts: tuple[Path, ...], home: Path
         ) -> HarnessReport:
    """The scenarios in worlds that live under the home's org policy (`<home>/policy.yaml`)."""
    from dataclasses import replace

    from runtime.harness.run import plan_for, run

    plan = replace(plan_for(plugin_dir, list(previous), registry, trust, api_versions(hosts)),
                   policy=Layout(home).policy_file)
    note(f"golden harness: {plan.manifest.name} {plan.manifest.version}")
    return run(plan, set(only) or None, _show)


F = TypeVar("F", bound=Callable[..., Any])


def _options(func: F) -> F:
    for option in reversed([
        click.argument("plugin_dir", type=click.Path(path_type=Path, file_okay=False,
                                                     exists=True)),
        click.option("--previous", multiple=True,
                     type=click.Path(path_type=Path, file_okay=False, exists=True),
                     help="A previous version's folder, published before the candidate "
                          "(repeatable); the registry's versions count too."),
        click.option("--registry", type=click.Path(path_type=Path, file_okay=False,
                                                   exists=True),
                     help="A registry with the plugin's dependencies and earlier versions "
                          "(copied; never written)."),
        click.option("--trust", multiple=True,
                     type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="Public keys that signed the registry's artifacts."),
        click.option("--only", multiple=True, help="Run only these scenarios (repeatable)."),
        click.option("--host", "hosts", multiple=True,
                     type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="Host descriptions whose plugin API versions the plugin is run "
                          "against too (this host's always)."),
    ]):
        func = option(func)
    return func


def _emit(report: HarnessReport, fmt: str) -> None:
    if fmt == "json":
        emit_json(report.to_dict())
        return
    passed = sum(r.status == "passed" for r in report.results)
    skipped = sum(r.status == "skipped" for r in report.results)
    click.echo(f"{report.plugin} {report.version}: {passed} passed, {skipped} skipped, "
               f"{len(report.results) - passed - skipped} failed")
    for failed in [r for r in report.results if r.status == "failed"]:
        click.echo(f"FAIL {failed.name}: {failed.detail}")


@click.command()
@_options
@format_option
@home_option
@handles_errors
def harness(plugin_dir: Path, previous: tuple[Path, ...], registry: Path | None,
            trust: tuple[Path, ...], only: tuple[str, ...], hosts: tuple[Path, ...],
            fmt: str, home: Path) -> None:
    """Walk a plugin through install, configure, execute, update, rollback and uninstall, with
    failure injected at every install phase, under the home's org policy. Exit 1 when a
    scenario fails."""
    report = _run(plugin_dir, previous, registry, trust, only, hosts, home)
    _emit(report, fmt)
    if any(r.status == "failed" for r in report.results):
        sys.exit(EXIT_FAILED)


@click.command("release-gate")
@_options
@format_option
@home_option
@handles_errors
def release_gate(plugin_dir: Path, previous: tuple[Path, ...], registry: Path | None,
                 trust: tuple[Path, ...], only: tuple[str, ...], hosts: tuple[Path, ...],
                 fmt: str, home: Path) -> None:
    """Run the harness and record its verdict for `pluginops publish`. Exit 1, naming the
    scenarios, when a critical one fails."""
    from runtime.harness import gate

    report = _run(plugin_dir, previous, registry, trust, only, hosts, home)
    path = gate.record(home, report.to_dict())
    _emit(report, fmt)
    if not report.passed:
        note(f"release gate FAILED for {report.plugin} {report.version}: "
             f"{', '.join(r.name for r in report.failed_critical)} (recorded in {path}; "
             "`pluginops publish` refuses it unless --force)")
        sys.exit(EXIT_FAILED)
    note(f"release gate passed for {report.plugin} {report.version} (recorded in {path})")


@click.command()
@click.argument("plugin_dirs", nargs=-1, required=True,
                type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--host", "hosts", multiple=True, required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Host descriptions (repeatable); this host is always included.")
@click.option("--execute", is_flag=True,
              help="Also run each plugin's golden cases with the runtime serving each API "
                   "version of a compatible cell.")
@click.option("--registry", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--trust", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for matrix.json, matrix.csv and matrix.md.")
@format_option
@home_option
@handles_errors
def matrix(plugin_dirs: tuple[Path, ...], hosts: tuple[Path, ...], execute: bool,
           registry: Path | None, trust: tuple[Path, ...], out: Path, fmt: str,
           home: Path) -> None:
    """Plugin versions x host versions x API versions: which combinations are compatible, by
    the same checks as preflight, and (with --execute) which pass their golden cases on a
    runtime presenting that host. Exit 1 when an executed cell fails."""
    from runtime.harness import matrix as compat

    descriptions = [this_host(), *(load_host(path) for path in hosts)]
    runner = compat.golden_executor(registry, trust, Layout(home).policy_file) if execute else None
    cells = compat.derive(list(plugin_dirs), descriptions, runner)
    summary = compat.write(cells, out)
    if fmt == "json":
        emit_json(summary)
    else:
        click.echo(f"wrote {out}/matrix.json, matrix.csv, matrix.md ({summary['cells']} cells, "
                   f"{summary['failed']} failed)")
    if summary["failed"]:
        sys.exit(EXIT_FAILED)
