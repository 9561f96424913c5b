"""The weekly report's figures as PNG files (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from evaluator.plugin import PluginOutcome
from evaluator.results import Evaluation
from runtime.kpi.compute import KpiPoint, KpiValue

DPI = 100
SIZE = (8, 3.6)


def _fleet_daily(outcomes: list[PluginOutcome], key: str) -> np.ndarray:
    arrays = [np.nan_to_num(o.daily[key]) for o in outcomes if key in o.daily]
    return np.sum(arrays, axis=0) if arrays else np.zeros(0)


def _save(figure: Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(figure)


def availability(outcomes: list[PluginOutcome], path: Path) -> None:
    executions = _fleet_daily(outcomes, "executions")
    errors = _fleet_daily(outcomes, "errors")
    half = len(executions) // 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(executions > 0, 1 - errors / executions, np.nan) * 100
    figure, axis = plt.subplots(figsize=SIZE)
    days = np.arange(1, half + 1)
    axis.plot(days, ratio[half:], marker="o", label="this window")
    axis.plot(days, ratio[:half], marker="o", linestyle="--", alpha=0.6, label="previous window")
    axis.set_xlabel("day")
    axis.set_ylabel("availability (%)")
    axis.set_title("Fleet availability per day")
    axis.legend()
    _save(figure, path)


def cost(evaluation: Evaluation, path: Path) -> None:
    top = evaluation.fleet.top_costly
    figure, axis = plt.subplots(figsize=SIZE)
    names = [r.plugin for r in top][::-1]
    now = [r.value for r in top][::-1]
    by_name = {p.plugin: p for p in evaluation.plugins}
    before = [by_name[n].previous_window.cost_usd or 0.0 for n in names]
    y = np.arange(len(names))
    axis.barh(y + 0.2, now, height=0.4, label="this window")
    axis.barh(y - 0.2, before, height=0.4, alpha=0.6, label="previous window")
    axis.set_yticks(y, names)
    axis.set_xlabel("cost (USD)")
    axis.set_title("Top costly plugins")
    if names:
        axis.legend()
    _save(figure, path)


def budgets(evaluation: Evaluation, path: Path, count: int = 15) -> None:
    rows = sorted((s.budget_remaining, f"{p.plugin} ({s.slo})") for p in evaluation.plugins
                   for s in p.slos if s.budget_remaining is not None)[:count]
    figure, axis = plt.subplots(figsize=(SIZE[0], max(SIZE[1], 0.3 * len(rows) + 1)))
    values = [r[0] * 100 for r in rows][::-1]
    labels = [r[1] for r in rows][::-1]
    colours = ["tab:red" if v < 0 else "tab:orange" if v < 25 else "tab:green" for v in values]
    axis.barh(np.arange(len(rows)), values, color=colours)
    axis.set_yticks(np.arange(len(rows)), labels)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel("error budget remaining (%)")
    axis.set_title("Lowest error budgets")
    _save(figure, path)


def executions(outcomes: list[PluginOutcome], path: Path) -> None:
    total = _fleet_daily(outcomes, "executions")
    errors = _fleet_daily(outcomes, "errors")
    half = len(total) // 2
    days = np.arange(1, half + 1)
    figure, axis = plt.subplots(figsize=SIZE)
    axis.bar(days - 0.2, total[half:], width=0.4, label="executions, this window")
    axis.bar(days + 0.2, total[:half], width=0.4, alpha=0.6, label="executions, previous")
    twin = axis.twinx()
    twin.plot(days, errors[half:], color="tab:red", marker="o", label="failed, this window")
    axis.set_xlabel("day")
    axis.set_ylabel("executions")
    twin.set_ylabel("failed executions")
    axis.set_title("Fleet traffic per day")
    axis.legend(loc="upper left")
    _save(figure, path)


CHARTS = {
    "availability": "availability.png",
    "executions": "executions.png",
    "cost": "cost.png",
    "budgets": "budgets.png",
}


def draw_all(evaluation: Evaluation, outcomes: list[PluginOutcome], folder: Path
             ) -> dict[str, str]:
    """Every chart into `folder`; returns name -> file name."""
    availability(outcomes, folder / CHARTS["availability"])
    executions(outcomes, folder / CHARTS["executions"])
    cost(evaluation, folder / CHARTS["cost"])
    budgets(evaluation, folder / CHARTS["budgets"])
    return dict(CHARTS)


def kpi_chart(value: KpiValue, points: list[KpiPoint], path: Path) -> None:
    """A KPI week by week against the goal its target set for each period."""
    weeks = np.arange(-len(points) + 1, 1)
    values = np.array([np.nan if p.value is None else p.value for p in points], dtype=float)
    goals = np.array([np.nan if p.goal is None else p.goal for p in points], dtype=float)
    scale = 100.0 if value.unit == "ratio" else 1.0
    figure, axis = plt.subplots(figsize=(SIZE[0], 2.8))
    axis.plot(weeks, values * scale, marker="o", label=f"over the {value.period_days} days "
              "before each week's end")
    axis.step(weeks, goals * scale, where="mid", color="tab:red", linestyle="--",
              label=f"target: {value.target_text}")
    if np.isnan(values).all():
        axis.text(0.5, 0.5, "no data yet", transform=axis.transAxes, ha="center",
                  va="center", color="grey")
    axis.set_xlabel("weeks before the report")
    axis.set_ylabel({"ratio": "%", "seconds": "seconds"}.get(value.unit, value.unit))
    axis.set_title(value.title)
    axis.legend(loc="best", fontsize="small")
    _save(figure, path)


def draw_kpis(scorecard: list[KpiValue], history: dict[str, list[KpiPoint]], folder: Path
              ) -> dict[str, str]:
    """A chart per KPI with a history; returns `kpi:<name>` -> file name."""
    drawn = {}
    for value in scorecard:
        points = history.get(value.name)
        if points:
            name = f"kpi-{value.name}.png"
            kpi_chart(value, points, folder / name)
            drawn[f"kpi:{value.name}"] = name
    return drawn
