"""SLO arithmetic with the recording rules' semantics (alerts/rules.py), so both give the same
numbers from the same samples:

- windows up to 6h: `sum(rate(bad[w])) / clamp_min(sum(rate(total[w])), 1e-12)`;
- 1d, 3d and the period: sums over the window of the 5m rates as the rules record them, every
  `step` (the rule evaluation interval) - event-weighted, not a mean of ratios;
- a missing bad series counts as 0 where there is traffic; no traffic at all gives no figure;
- burn rate = error ratio / (1 - objective); budget remaining = 1 - period ratio / (1 - objective).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerts import conventions as c
from alerts.spec import Slo
from alerts.windows import ALL_WINDOWS, SHORT_WINDOWS, seconds
from collector import schema as s
from evaluator.promql import sum_over_time
from evaluator.series import PluginSeries

CLAMP = 1e-12
RATE_RANGE_MS = 5 * 60_000


def governing(slos: list[Slo], kind: str, plugin: str, plugin_type: str) -> Slo | None:
    """The SLO of this kind that applies to the plugin: its own override, else its type's."""
    mine = [x for x in slos if x.kind == kind and x.scope == f"plugin:{plugin}"]
    if mine:
        return mine[0]
    typed = [x for x in slos if x.kind == kind and x.scope == f"type:{plugin_type}"]
    return typed[0] if typed else None


def columns_for(slo: Slo) -> tuple[str, ...]:
    """The value columns an SLO's figures read (a reader may skip the others)."""
    if slo.kind == c.AVAILABILITY:
        return s.OUTCOME_COLUMNS
    return (s.LATENCY_COUNT, s.bucket_column(slo.threshold or 0.0))


def bad_and_total_rates(series: PluginSeries, slo: Slo, evals: np.ndarray, range_ms: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    if slo.kind == c.AVAILABILITY:
        return (series.summed_rate(s.BAD_OUTCOME_COLUMNS, evals, range_ms),
                series.summed_rate(s.OUTCOME_COLUMNS, evals, range_ms))
    total = series.rate(s.LATENCY_COUNT, evals, range_ms)
    good = series.rate(s.bucket_column(slo.threshold or 0.0), evals, range_ms)
    return total - good, total


def ratio(bad: np.ndarray | float, total: np.ndarray | float) -> np.ndarray:
    bad_a, total_a = np.asarray(bad, dtype="float64"), np.asarray(total, dtype="float64")
    value = np.where(np.isnan(bad_a), 0.0, bad_a) / np.maximum(total_a, CLAMP)
    return np.where(np.isnan(total_a), np.nan, value)


@dataclass(frozen=True)
class Window:
    error_ratio: float | None
    burn_rate: float | None


@dataclass(frozen=True)
class SloFigures:
    slo: str
    name: str
    objective: float
    period: str
    threshold_s: float | None
    windows: dict[str, Window]
    budget_consumed: float | None
    budget_remaining: float | None
    events: float | None
    bad_events: float | None


def _number(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def recorded_grid(at_ms: int, span_ms: int, step_ms: int) -> np.ndarray:
    """The instants the rules evaluate at, back from `at` over `span` (both ends included)."""
    count = span_ms // step_ms
    return at_ms - np.arange(count, -1, -1, dtype="int64") * step_ms


def evaluate(series: PluginSeries, slo: Slo, at_ms: int, step_ms: int,
             long_windows: bool = True) -> SloFigures:
    """Every window's figures; without `long_windows`, the windows the rules sum 5m rates over
    (1d, 3d, the period) are left unknown (the store's recorded values take their place)."""
    budget = 1.0 - slo.objective
    period_ms = int(slo.period_seconds * 1000)
    figures: dict[str, float] = {}
    at = np.array([at_ms], dtype="int64")
    for window in SHORT_WINDOWS:
        bad, total = bad_and_total_rates(series, slo, at, int(seconds(window) * 1000))
        figures[window] = float(ratio(bad, total)[0])
    summed = [*[w for w in ALL_WINDOWS if w not in SHORT_WINDOWS], slo.period]
    if long_windows:
        grid = recorded_grid(at_ms, period_ms, step_ms)
        bad5, total5 = bad_and_total_rates(series, slo, grid, RATE_RANGE_MS)
        bad5 = np.where(np.isnan(total5), np.nan, bad5)
        for window in summed:
            range_ms = int(seconds(window) * 1000)
            bad_sum = sum_over_time(grid, bad5, at, range_ms)
            total_sum = sum_over_time(grid, total5, at, range_ms)
            figures[window] = float(ratio(bad_sum, total_sum)[0])
    else:
        figures.update({window: float("nan") for window in summed})
    windows = {w: Window(_number(v), _number(v / budget)) for w, v in figures.items()}
    period_ratio = figures[slo.period]
    if slo.kind == c.AVAILABILITY:
        events = sum(series.increase(col, at_ms - period_ms, at_ms)
                     for col in s.OUTCOME_COLUMNS if series.has(col))
        bad_events = sum(series.increase(col, at_ms - period_ms, at_ms)
                         for col in s.BAD_OUTCOME_COLUMNS if series.has(col))
    else:
        events = series.increase(s.LATENCY_COUNT, at_ms - period_ms, at_ms)
        bad_events = events - series.increase(s.bucket_column(slo.threshold or 0.0),
                                              at_ms - period_ms, at_ms)
    consumed = period_ratio / budget
    return SloFigures(slo.kind, slo.name, slo.objective, slo.period, slo.threshold,
                      windows, _number(consumed), _number(1.0 - consumed),
                      _number(float(events)), _number(float(bad_events)))
