"""`pluginops rules generate | check | alertmanager`."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.alertmanager import config, load_routing
from alerts.generated_files import ROUTING, SLO_DIR
from alerts.render import to_yaml
from alerts.rules import generate as generate_rules
from alerts.sloth_import import import_sloth
from alerts.spec import load_slos
from contracts.files import atomic_write_bytes
from pluginops.cli.common import handles_errors


@click.group()
def rules() -> None:
    """Prometheus rules and the Alertmanager config, generated from the SLO specs."""


@rules.command("generate")
@click.option("--slos", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=SLO_DIR, show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("alerts/generated/rules.yml"), show_default=True)
@handles_errors
def rules_generate(slos: Path, out: Path) -> None:
    """Write the recording and alerting rules."""
    atomic_write_bytes(out, to_yaml(generate_rules(load_slos(slos))).encode())
    click.echo(f"wrote {out}")


@rules.command("import-sloth")
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--period", default="30d", show_default=True, help="The SLO period.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True)
@handles_errors
def rules_import_sloth(spec: Path, period: str, out: Path) -> None:
    """Generate rules from a Sloth `prometheus/v1` spec (event-weighted, NaN-free)."""
    atomic_write_bytes(out, to_yaml(import_sloth(spec.read_text(encoding="utf-8"), period))
                       .encode())
    click.echo(f"wrote {out}")


@rules.command("alertmanager")
@click.option("--routing", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=ROUTING, show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("alerts/generated/alertmanager.yml"), show_default=True)
@handles_errors
def rules_alertmanager(routing: Path, out: Path) -> None:
    """Write the Alertmanager configuration for a routing file's webhook URLs."""
    atomic_write_bytes(out, to_yaml(config(load_routing(routing))).encode())
    click.echo(f"wrote {out}")
