"""`pluginops fleet rollout NAME@VERSION --hosts FILE --store URL` and `fleet status NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from alerts.generated_files import SLO_DIR
from alerts.spec import load_slos
from collector.query_api import QueryApi
from contracts.codes import Code
from contracts.errors import EXIT_FAILED, PluginopsError
from contracts.layout import Layout
from fleet.client import HostApi
from fleet.coordinator import Coordinator, Plan
from fleet.gate import GateSettings
from fleet.hosts import load_hosts
from pluginops.cli.common import emit_json, format_option, handles_errors, home_option, note
from runtime.rollouts import COMPLETED, Rollouts
from runtime.semver import is_exact_version

HOSTS = click.option("--hosts", "hosts_file", required=True,
                     type=click.Path(path_type=Path, dir_okay=False),
                     help="The fleet: `hosts: [{name, url, token_env|token_file, ca_file}]`, or "
                          "a file-based discovery file (with --token).")
TOKEN = click.option("--token", envvar="PLUGINOPS_TOKEN", show_envvar=True,
                     help="An operator's token for hosts from a discovery file.")


@click.group()
def fleet() -> None:
    """Roll a plugin version out across runtime hosts, gated by its error budget burn."""


def _target(target: str) -> tuple[str, str]:
    name, _, version = target.partition("@")
    if not name or not is_exact_version(version):
        raise PluginopsError(Code.VERSION_INVALID, f"{target[:80]!r} is not NAME@VERSION",
                             where="NAME@VERSION", next_step="name an exact published "
                             "version, e.g. json-transform@2.0.0")
    return name, version


@fleet.command()
@click.argument("target", metavar="NAME@VERSION")
@HOSTS
@click.option("--store", required=True, help="The metrics store's Prometheus query API "
              "(Prometheus, VictoriaMetrics, Mimir's /prometheus, Thanos Querier).")
@TOKEN
@click.option("--gate-seconds", type=click.FloatRange(1, 86400), default=300.0,
              show_default=True, help="How long each wave is watched before the next.")
@click.option("--max-burn", type=click.FloatRange(0.01, 1000), default=1.0,
              show_default=True, help="The fastest error budget burn a wave may show.")
@click.option("--canary", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Hosts in the first wave.")
@click.option("--wave-share", type=click.FloatRange(0.01, 1.0), default=0.5,
              show_default=True, help="Share of the remaining hosts in the second wave.")
@format_option
@home_option
@handles_errors
def rollout(target: str, hosts_file: Path, store: str, token: str | None,
            gate_seconds: float, max_burn: float, canary: int, wave_share: float, fmt: str,
            home: Path) -> None:
    """Update every host to NAME@VERSION in waves (one canary, a share, the rest), each wave
    gated by the version's error budget burn read from the store; on a failed gate every host
    that took it is rolled back. Journalled in this home: run it again to resume."""
    plugin, version = _target(target)
    hosts = load_hosts(hosts_file, token)
    record = Rollouts(Layout(home).rollouts_db)
    try:
        coordinator = Coordinator(record, hosts, QueryApi(store),
                                  load_slos(SLO_DIR), note=note)
        started = coordinator.start_or_resume(
            plugin, version, Plan(canary, wave_share),
            GateSettings(seconds=gate_seconds, max_burn=max_burn))
        done = coordinator.run(started)
        steps = record.steps(done.id)
    finally:
        record.close()
    if fmt == "json":
        emit_json({"rollout": done.__dict__, "steps": [s.__dict__ for s in steps]})
    else:
        click.echo(f"{plugin} {version}: {done.state.replace('_', ' ')}"
                   + (f" ({done.detail.get('code')}: {done.detail.get('message')})"
                      if done.state != COMPLETED else ""))
    if done.state != COMPLETED:
        raise SystemExit(EXIT_FAILED)


@fleet.command()
@click.argument("name")
@HOSTS
@TOKEN
@format_option
@home_option
@handles_errors
def status(name: str, hosts_file: Path, token: str | None, fmt: str, home: Path) -> None:
    """Each host's version of NAME and any operation in flight, and this home's last rollout
    of it, wave by wave."""
    hosts = load_hosts(hosts_file, token)
    seen: dict[str, dict[str, Any]] = {}
    for host in hosts:
        try:
            answer = HostApi(host).status(name)
            seen[host.name] = answer.body if answer.ok else {"error": answer.error}
        except PluginopsError as failed:
            seen[host.name] = {"error": f"{failed.code}: {failed.message}"}
    record = Rollouts(Layout(home).rollouts_db)
    try:
        last = record.latest(name)
        steps = record.steps(last.id) if last else []
        gates = [g for g in (record.gate(last.id, i) for i in range(len(last.waves)))
                 if g] if last else []
    finally:
        record.close()
    if fmt == "json":
        emit_json({"hosts": seen, "rollout": last.__dict__ if last else None,
                   "steps": [s.__dict__ for s in steps], "gates": [g.__dict__ for g in gates]})
        return
    for name_, body in seen.items():
        flight = (body.get("in_flight") or {}).get("line")
        click.echo(f"{name_}: " + (body["error"] if "error" in body else
                                  f"{body.get('version') or 'not installed'} "
                                  f"{body.get('state', '')}" + (f"; {flight}" if flight else "")))
    if last is None:
        click.echo(f"no rollout of {name} from this home")
        return
    click.echo(f"rollout {last.id[:12]} of {name} {last.version}: "
               f"{last.state.replace('_', ' ')}"
               + (f" ({last.detail.get('message')})" if last.detail.get("message") else ""))
    for step in steps:
        click.echo(f"  wave {step.wave + 1} {step.host}: {step.state}"
                   + (f" (was {step.previous})" if step.previous else ""))
    for gate in gates:
        click.echo(f"  wave {gate.wave + 1} gate: {gate.outcome or 'open'}"
                   + (f": {gate.evidence.get('summary')}" if gate.evidence else ""))
