"""`pluginops host`: what this runtime offers plugins."""

from __future__ import annotations

import click

from pluginops.cli.common import emit_json, format_option, handles_errors
from runtime.host import this_host


@click.command()
@format_option
@handles_errors
def host(fmt: str) -> None:
    """Print this host's description (version, plugin API versions, capabilities)."""
    desc = this_host()
    if fmt == "json":
        emit_json(desc.model_dump())
        return
    click.echo(f"host version {desc.version}")
    click.echo(f"plugin API   {', '.join(desc.api)}")
    click.echo(f"capabilities {', '.join(desc.capabilities)}")
