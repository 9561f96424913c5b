"""`pluginops kpi`: the plan's KPIs from this home's records, each against its target."""

from __future__ import annotations

import time
from pathlib import Path

import click

from contracts.errors import EXIT_FAILED
from pluginops.budgets import incident_reader
from pluginops.cli.common import (
    emit_json,
    format_option,
    handles_errors,
    home_option,
    registry_index,
)
from runtime.kpi import records
from runtime.kpi.compute import MISSED, scorecard
from runtime.kpi.views import kpi_line


@click.command()
@click.option("--registry", help="The registry whose releases the hotfix KPI counts (default: "
              "$PLUGINOPS_REGISTRY, else <home>/registry).")
@click.option("--at", "at_s", type=float, help="Periods end at this Unix time (default: now).")
@click.option("--prometheus-url", envvar="PLUGINOPS_PROMETHEUS_URL", show_envvar=True,
              help="The store running the rules: its availability pages count as production "
                   "incidents in the mean time to detect, beside the drills.")
@click.option("--check", is_flag=True, help="Exit 1 when a KPI misses its target.")
@format_option
@home_option
@handles_errors
def kpi(registry: str | None, at_s: float | None, prometheus_url: str | None, check: bool,
        fmt: str, home: Path) -> None:
    """Each KPI's value over its period, the previous period's, the change and whether the
    target is met."""
    at = time.time() if at_s is None else at_s
    production = incident_reader(prometheus_url, degrade=False)
    values = scorecard(records.read(home, registry_index(registry, home), production, at), at)
    if fmt == "json":
        emit_json({"at": at, "kpis": [v.model_dump() for v in values]})
    else:
        for value in values:
            click.echo(kpi_line(value))
    if check and any(v.status == MISSED for v in values):
        raise SystemExit(EXIT_FAILED)
