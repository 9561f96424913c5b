"""`pluginops install | update | rollback | uninstall | status | history`."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from contracts.catalogue import INSTALL_PHASES
from contracts.errors import EXIT_FAILED
from contracts.outcomes import TransactionState
from pluginops.cli import wiring
from pluginops.cli.common import (
    emit_json,
    format_option,
    handles_errors,
    home_option,
    registry_dir,
    registry_option,
)
from pluginops.cli.preflight_cmd import resolve_host
from pluginops.cli.progress import ConsoleReporter
from runtime.install.baking import request_for
from runtime.install.context import Env
from runtime.install.service import Installer
from runtime.install.transaction import Outcome
from runtime.install.views import outcome_view, status_view

F = TypeVar("F", bound=Callable[..., Any])


def operation_options(func: F) -> F:
    decorators = [
        registry_option,
        click.option("--ca-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="CA certificate an https:// registry's certificate is checked "
                          "against (default: $PLUGINOPS_REGISTRY_CA_FILE, then the system's)."),
        click.option("--trust", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     multiple=True, help="Also trust this publisher key (signing.pub)."),
        click.option("--allow-unsigned", is_flag=True,
                     help="Accept unsigned artifacts (policy; recorded in the log)."),
        click.option("--inject-failure", type=click.Choice(INSTALL_PHASES),
                     help="Make this phase fail (tests, harness, fault injection); also "
                          "PLUGINOPS_INJECT_FAILURE."),
        click.option("--host", "host_file", type=click.Path(path_type=Path, dir_okay=False),
                     help="Install against this host description."),
        click.option("--host-version"),
        click.option("--as", "as_user", metavar="USER",
                     help="Who asks (recorded; may not approve their own elevated requests). "
                          "Default: $PLUGINOPS_USER, then the login name."),
        format_option, home_option, handles_errors,
    ]
    return functools.reduce(lambda f, d: d(f), reversed(decorators), func)


def _installer(fmt: str, home: Path, registry: str | None, ca_file: Path | None,
               trust: tuple[Path, ...], allow_unsigned: bool, inject_failure: str | None,
               host_file: Path | None, host_version: str | None, as_user: str | None
               ) -> Installer:
    reporter = ConsoleReporter() if fmt == "text" else None
    env: Env = wiring.installer_env(home, registry_dir(registry, home, ca_file),
                                    resolve_host(host_file, host_version), trust,
                                    allow_unsigned, inject_failure, reporter, as_user)
    return Installer(env)


def _finish(outcome: Outcome, fmt: str) -> None:
    wiring.shutdown()
    if fmt == "json":
        emit_json(outcome_view(outcome))
    else:
        click.echo(outcome.message)
        if outcome.failure is not None:
            click.echo(f"  next step: {outcome.failure.next_step}")
            click.echo(f"  correlation id: {outcome.tx_id}")
    if not outcome.ok:
        raise SystemExit(EXIT_FAILED)


@click.command()
@click.argument("target", metavar="NAME[@VERSION_OR_RANGE]")
@operation_options
def install(target: str, fmt: str, home: Path, **opts: Any) -> None:
    """Install a plugin from the registry, with its dependencies."""
    _finish(_installer(fmt, home, **opts).install(target), fmt)


@click.command()
@click.argument("target", metavar="NAME[@VERSION_OR_RANGE]")
@click.option("--bake/--no-bake", default=None,
              help="After the health check, serve a share of executions with the new version "
                   "and compare it with the old one; promote or roll back on the evidence "
                   "(default: the policy's `bake.always`).")
@click.option("--canary-weight", type=float, metavar="SHARE",
              help="The new version's share of executions while it bakes (default: the "
                   "policy's `bake.weight`, 0.1).")
@click.option("--bake-executions", type=int, metavar="N",
              help="The new version's executions judged before a promotion (default: the "
                   "policy's `bake.min_executions`, 200).")
@operation_options
def update(target: str, bake: bool | None, canary_weight: float | None,
           bake_executions: int | None, fmt: str, home: Path, **opts: Any) -> None:
    """Update an installed plugin to the newest matching version."""
    installer = _installer(fmt, home, **opts)
    request = request_for(installer.env.policy, bake, canary_weight, bake_executions)
    outcome = installer.update(target, bake=request)
    if request is not None and outcome.state == TransactionState.COMMITTED and fmt == "text":
        click.echo(f"Baking {outcome.to_version}: {request.weight:.0%} of executions until "
                   f"{request.min_executions} are judged (`pluginops bake status "
                   f"{outcome.plugin}`; a runtime serving executions decides)")
    _finish(outcome, fmt)


@click.command()
@click.argument("name")
@click.option("--to", "to_version", help="Version to return to (default: the previous one).")
@operation_options
def rollback(name: str, to_version: str | None, fmt: str, home: Path, **opts: Any) -> None:
    """Return a plugin to an earlier version kept on disk."""
    _finish(_installer(fmt, home, **opts).rollback(name, to_version), fmt)


@click.command()
@click.argument("name")
@operation_options
def uninstall(name: str, fmt: str, home: Path, **opts: Any) -> None:
    """Remove a plugin (refused while installed plugins depend on it)."""
    _finish(_installer(fmt, home, **opts).uninstall(name), fmt)


@click.command()
@click.argument("name", required=False)
@format_option
@home_option
@handles_errors
def status(name: str | None, fmt: str, home: Path) -> None:
    """What is installed, and any operation in flight."""
    installer = Installer(wiring.installer_env(home, None, resolve_host(None, None)))
    items = [status_view(s) for s in installer.status(name)]
    if fmt == "json":
        emit_json({"plugins": items})
        return
    if not items:
        click.echo("no plugins installed")
    for item in items:
        if item["in_flight"]:
            click.echo(f"{item['in_flight']['line']}; active: {item['version'] or 'none'}")
        elif item["state"] == "active":
            click.echo(f"{item['plugin']} {item['version']} active ({item['type']})")
        elif item["state"] == "interrupted":
            click.echo(f"{item['plugin']}: an operation was interrupted (active: "
                       f"{item['version'] or 'none'}); `pluginops recover` restores the last "
                       "committed state")
        else:
            click.echo(f"{item['plugin']}: not installed")
        last = item["last_transaction"]
        if last and last["state"] == TransactionState.ROLLED_BACK:
            click.echo(f"  last {last['operation']} rolled back: {last['error_code']}: "
                       f"{last['message']}")


@click.command()
@format_option
@home_option
@handles_errors
def recover(fmt: str, home: Path) -> None:
    """Undo what interrupted operations left (every install, update, rollback and uninstall
    does this first)."""
    repaired = Installer(wiring.installer_env(home, None, resolve_host(None, None))).recover()
    wiring.shutdown()
    if fmt == "json":
        emit_json({"repaired": repaired})
    else:
        click.echo(f"repaired {len(repaired)} interrupted transaction(s)"
                   + (f": {', '.join(repaired)}" if repaired else ""))


@click.command()
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@format_option
@home_option
@handles_errors
def history(name: str | None, limit: int, fmt: str, home: Path) -> None:
    """Every transaction with its phases, durations and outcome."""
    installer = Installer(wiring.installer_env(home, None, resolve_host(None, None)))
    rows = installer.history(name, limit)
    if fmt == "json":
        emit_json({"transactions": rows})
        return
    if not rows:
        click.echo("no transactions")
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row["started_at"]))
        versions = f"{row['from_version'] or '-'} -> {row['to_version'] or '-'}"
        click.echo(f"{when}Z {row['tx_id'][:12]} {row['operation']:<9} {row['plugin']} "
                   f"{versions}: {row['outcome']}"
                   + (f" ({row['duration_s'] * 1000:.0f} ms)" if row["duration_s"] else ""))
        for phase in row["phases"]:
            took = (f" {phase['duration_s'] * 1000:.1f} ms"
                    if phase.get("duration_s") is not None else "")
            code = f" {phase['code']}" if phase.get("code") else ""
            click.echo(f"    {phase['phase']:<18} {phase['outcome']}{took}{code}")
        if row["rollback"]:
            back = row["rollback"]["active_version"] or "not installed"
            click.echo(f"    rolled back to {back}: {row['error']['message']}")

