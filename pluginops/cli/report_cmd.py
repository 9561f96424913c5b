"""`pluginops report weekly`: the weekly review from a telemetry source, with the KPI scorecard
of a runtime home. Heavy libraries load when the command runs, as for `evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pluginops.cli.common import emit_json, format_option, handles_errors, note, registry_index
from pluginops.cli.evaluate_cmd import (
    evaluated_run,
    materiality_floors,
    materiality_option,
    parse_time,
    source_options,
    telemetry_source,
)

if TYPE_CHECKING:
    from runtime.kpi.compute import KpiPoint, KpiValue


@click.group()
def report() -> None:
    """Reports built from telemetry."""


@report.command("weekly")
@source_options
@click.option("--at", default=None, help="End of the reported week (default now, or the end "
              "of a file source's data).")
@click.option("--window", default="7d", show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for report.json, report.md and the charts (replaced whole).")
@materiality_option
@click.option("--home", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="A runtime home: add the KPI scorecard, measured from its records.")
@click.option("--registry", "registry_location", help="The registry whose releases the hotfix "
              "KPI counts (default: $PLUGINOPS_REGISTRY, else <home>/registry).")
@format_option
@handles_errors
def weekly(prometheus: str | None, openmetrics_file: str | None, parquet_dir: str | None,
           authorization: str | None, timeout_s: float, retries: int, step_s: int, at: str | None,
           window: str, workers: int, out: Path, materiality: Path | None, home: Path | None,
           registry_location: str | None, fmt: str) -> None:
    """The weekly review: report.json (schemas/weekly-report.schema.json) and report.md."""
    from contracts.files import atomic_directory
    from evaluator import charts, markdown
    from evaluator import report as weekly_report
    from pluginops.budgets import incident_reader
    from runtime.kpi import compute, records

    floors = materiality_floors(materiality)
    source = telemetry_source(prometheus, openmetrics_file, parquet_dir, authorization,
                              timeout_s, retries, step_s)
    registry = registry_index(registry_location, home) if home is not None else None
    run = evaluated_run(source, at, window, workers, floors)
    scorecard: list[KpiValue] = []
    history: dict[str, list[KpiPoint]] = {}
    if home is not None:
        end = parse_time(run.evaluation.at, "--at")
        # the pages the source store saw count as incidents beside the drills
        facts = records.read(home, registry, incident_reader(prometheus, degrade=False), end)
        scorecard, history = compute.scorecard(facts, end), compute.history(facts, end)
    note("drawing charts")
    with atomic_directory(out) as folder:
        drawn = charts.draw_all(run.evaluation, run.outcomes, folder)
        drawn.update(charts.draw_kpis(scorecard, history, folder))
        built = weekly_report.build(run, drawn, scorecard=scorecard, kpi_history=history)
        (folder / "report.json").write_text(built.model_dump_json(indent=2) + "\n")
        (folder / "report.md").write_text(markdown.render(built))
    if fmt == "json":
        emit_json({"out": str(out), "files": ["report.json", "report.md", *drawn.values()]})
    else:
        click.echo(f"wrote {out}/report.md and {out}/report.json ({len(drawn)} charts)")

