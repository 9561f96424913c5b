"""`pluginops generate`: write (or check) every generated, committed file."""

from __future__ import annotations

from pathlib import Path

import click

from contracts.codes import Code
from contracts.errors import OperationFailed
from contracts.files import atomic_write_bytes
from pluginops.cli.common import handles_errors
from pluginops.extras import require as require_extra
from pluginops.generated import GENERATED


@click.command()
@click.option("--root", type=click.Path(path_type=Path, file_okay=False), default=".",
              help="Repository root.")
@click.option("--check", is_flag=True, help="Fail when a committed file is stale.")
@handles_errors
def generate(root: Path, check: bool) -> None:
    """Regenerate schemas, docs tables, rules and dashboards from code."""
    require_extra("evaluator", "pluginops generate")
    require_extra("dashboards", "pluginops generate")
    stale = []
    for rel, produce in sorted(GENERATED.items()):
        path = root / rel
        content = produce()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        if check:
            stale.append(rel)
        else:
            atomic_write_bytes(path, content.encode())
            click.echo(f"wrote {rel}")
    if stale:
        raise OperationFailed(Code.GENERATED_STALE, f"stale: {', '.join(stale)}", where=str(root),
                              next_step="run `pluginops generate` and commit the result")
