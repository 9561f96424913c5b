"""Figures of one window (counted events, no extrapolation) and trends: each figure against the
window of the same length just before it."""

from __future__ import annotations

import math

import numpy as np

from collector import schema as s
from evaluator.latency import bucket_increments, quantile_of_counts
from evaluator.results import Trend, WindowSummary
from evaluator.series import PluginSeries

FLAT = 0.01  # changes under 1% are "flat"
# Which way is good news, per figure (None: neither).
HIGHER_IS_BETTER: dict[str, bool | None] = {
    "executions": None, "successes": None, "availability": True, "error_ratio": False,
    "p95": False, "p99": False, "cost_usd": False, "cost_per_success_usd": False,
    "cost_per_success_variance": False, "tokens": None,
}
TREND_FIGURES = tuple(HIGHER_IS_BETTER)


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return _num(a / b)


def window_summary(series: PluginSeries, start_ms: int, end_ms: int,
                   hourly_cost_per_success: np.ndarray | None = None) -> WindowSummary:
    covered = _covers(series, start_ms)
    if not covered:
        return empty_summary()
    outcomes = [series.increase(c, start_ms, end_ms) for c in s.OUTCOME_COLUMNS if series.has(c)]
    executions = _num(float(np.nansum(outcomes))) if outcomes else None
    successes = _num(series.increase(s.SUCCESS_COLUMN, start_ms, end_ms))
    errors = None if executions is None else executions - (successes or 0.0)
    counts = bucket_increments(series, start_ms, end_ms)
    has_latency = counts.sum() > 0
    cost = _num(series.increase(s.COST, start_ms, end_ms))
    variance = None
    if hourly_cost_per_success is not None and np.isfinite(hourly_cost_per_success).sum() > 1:
        variance = _num(float(np.nanvar(hourly_cost_per_success, ddof=1)))
    return WindowSummary(
        executions=executions, successes=successes,
        availability=_div(successes, executions), error_ratio=_div(errors, executions),
        p95=_num(float(quantile_of_counts(0.95, counts)[0])) if has_latency else None,
        p99=_num(float(quantile_of_counts(0.99, counts)[0])) if has_latency else None,
        cost_usd=cost, cost_per_success_usd=_div(cost, successes),
        cost_per_success_variance=variance,
        tokens=_num(series.increase(s.TOKENS, start_ms, end_ms)))


def _covers(series: PluginSeries, start_ms: int) -> bool:
    """Whether the data reaches back to the window's start (within one sample interval)."""
    first = series.first_ms
    return first is not None and first <= start_ms + series.sample_interval_ms


def empty_summary() -> WindowSummary:
    return WindowSummary(**dict.fromkeys(WindowSummary.model_fields))


def trend(value: float | None, previous: float | None, higher_is_better: bool | None) -> Trend:
    if value is None or previous is None:
        return Trend(value=value, previous=previous, delta=None, delta_ratio=None,
                     direction="unknown", better=None)
    delta = value - previous
    relative = _div(delta, abs(previous))
    flat = delta == 0 if relative is None else abs(relative) < FLAT
    direction = "flat" if flat else ("up" if delta > 0 else "down")
    better = None if higher_is_better is None or flat else (delta > 0) == higher_is_better
    return Trend(value=value, previous=previous, delta=delta, delta_ratio=relative,
                 direction=direction, better=better)


def trends(current: WindowSummary, previous: WindowSummary) -> dict[str, Trend]:
    return {name: trend(getattr(current, name), getattr(previous, name), HIGHER_IS_BETTER[name])
            for name in TREND_FIGURES}


def summed(summaries: list[WindowSummary], quantiles: dict[str, float | None]
           ) -> WindowSummary:
    """A fleet window from plugin windows: counts add up, ratios are recomputed from the sums
    (event-weighted); fleet quantiles come from the fleet's merged buckets (`quantiles`)."""
    def total(name: str) -> float | None:
        values = [getattr(x, name) for x in summaries if getattr(x, name) is not None]
        return float(sum(values)) if values else None

    executions, successes, cost = total("executions"), total("successes"), total("cost_usd")
    errors = None if executions is None else executions - (successes or 0.0)
    return WindowSummary(
        executions=executions, successes=successes,
        availability=_div(successes, executions), error_ratio=_div(errors, executions),
        p95=quantiles.get("p95"), p99=quantiles.get("p99"), cost_usd=cost,
        cost_per_success_usd=_div(cost, successes), cost_per_success_variance=None,
        tokens=total("tokens"))
