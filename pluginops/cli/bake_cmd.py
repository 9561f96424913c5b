"""`pluginops bake status [NAME]`: bakes in progress and the last decisions."""

from __future__ import annotations

from pathlib import Path

import click

from contracts.layout import Layout
from pluginops.cli.common import emit_json, format_option, handles_errors, home_option
from runtime.bake.store import Bakes
from runtime.bake.views import bake_line, bake_view


@click.group()
def bake() -> None:
    """Updates that bake: a share of executions on the new version, then promote or roll
    back on the evidence (`pluginops update NAME --bake`)."""


@bake.command()
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Bakes shown per plugin, newest first.")
@format_option
@home_option
@handles_errors
def status(name: str | None, limit: int, fmt: str, home: Path) -> None:
    """Each plugin's bakes: in progress (weight, executions, error ratios) or decided (the
    evidence)."""
    store = Bakes(Layout(home).bakes_db)
    try:
        found = store.history(name, limit=limit if name else 10 * limit)
    finally:
        store.close()
    if fmt == "json":
        emit_json({"bakes": [bake_view(b) for b in found]})
        return
    if not found:
        click.echo("no bakes" + (f" of {name}" if name else ""))
    for item in found:
        click.echo(f"{item.plugin} ({item.id[:12]}): {bake_line(item)}")
