"""`pluginops host`: what this runtime offers plugins."""

from __future__ import annotations

from pathlib import Path

import click

from pluginops.cli.common import emit_json, format_option, handles_errors, home_option
from runtime.host import this_host
from runtime.sandbox import layers
from runtime.sandbox.settings import load_settings


@click.command()
@format_option
@home_option
@handles_errors
def host(fmt: str, home: Path) -> None:
    """Print this host's description and which sandbox layers are active here."""
    desc = this_host()
    sandbox = layers.report(list(load_settings(home).sandbox.layers))
    if fmt == "json":
        emit_json({**desc.model_dump(exclude={"sandbox"}), "sandbox": sandbox})
        return
    click.echo(f"host version {desc.version}")
    click.echo(f"plugin API   {', '.join(desc.api)}")
    click.echo(f"capabilities {', '.join(desc.capabilities)}")
    for name, layer in sandbox["layers"].items():
        state = "active" if layer["available"] else "MISSING"
        need = " (required)" if name in sandbox["required"] else ""
        click.echo(f"sandbox      {name:<8} {state}{need}: {layer['detail']}")
    contained = sandbox["containment"]
    click.echo(f"processes    {contained['mechanism']}: {contained['detail']}")
    identity = sandbox["identity"]
    click.echo(f"workers      {identity['mechanism']}: {identity['detail']}")
    if not sandbox["ok"]:
        click.echo(f"executions are refused: required layers missing: "
                   f"{', '.join(sandbox['missing'])}")
