"""Everything the evaluator says about one plugin, from its series alone (so plugins can be
evaluated in any order, in parallel, or on other machines)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy import stats

from alerts import conventions as c
from alerts.rules import COST_Z
from alerts.spec import Slo
from alerts.windows import seconds
from collector import schema as s
from evaluator import latency as lat
from evaluator import slo as slo_math
from evaluator.anomaly import Detector, Episode, episodes
from evaluator.cost_anomaly import CostDetector, score_costs
from evaluator.cost_episodes import cost_anomalies
from evaluator.figures import trends, window_summary
from evaluator.materiality import Materiality
from evaluator.results import (
    Anomaly,
    Latency,
    LatencyRegression,
    PluginResult,
    SloResult,
    WindowFigures,
)
from evaluator.series import PluginSeries

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Settings:
    step_s: int = 60  # the rule evaluation interval the recorded 5m rates are taken at
    window: str = "7d"  # trends, anomalies and regressions look at this window
    trend_windows: tuple[str, ...] = ("7d", "30d")
    detector: Detector = field(default_factory=Detector)  # error ratios
    cost_detector: CostDetector = field(default_factory=lambda: CostDetector(threshold=COST_Z))
    materiality: Materiality = field(default_factory=Materiality)
    # hours before the window the detectors learn from: the cost baseline uses the hour of the
    # week once two weeks precede the hour judged, so three weeks reach the whole window
    history_hours: int = 21 * 24
    min_hourly_successes: float = 5.0
    min_hourly_executions: float = 20.0
    min_error_excess: float = 10.0  # failed executions above expectation in one episode
    error_threshold: float = 5.0  # tested every hour of every plugin: p = 3e-7 per test
    regression_threshold: float = 1.2
    regression_alpha: float = 0.01
    regression_min_executions: int = 200
    permutation_rounds: int = 1000
    # A counter's level between two samples at least this far apart is interpolated (a store's
    # series kept one point an hour beyond the last hours: `collector.rolling`); None: the last
    # sample's level, as PromQL reads a counter.
    interpolate_gaps_s: float | None = None

    @property
    def window_ms(self) -> int:
        return int(seconds(self.window) * 1000)


@dataclass
class PluginOutcome:
    result: PluginResult
    buckets_current: np.ndarray
    buckets_previous: np.ndarray
    daily: dict[str, np.ndarray]  # per day over the previous and current windows (charts)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slo_result(figures: slo_math.SloFigures) -> SloResult:
    ratio = figures.windows[figures.period].error_ratio
    return SloResult(
        slo=figures.slo, name=figures.name, objective=figures.objective, period=figures.period,
        threshold_seconds=figures.threshold_s,
        windows={w: WindowFigures(error_ratio=v.error_ratio, burn_rate=v.burn_rate)
                 for w, v in figures.windows.items()},
        budget_consumed=figures.budget_consumed, budget_remaining=figures.budget_remaining,
        events=figures.events, bad_events=figures.bad_events,
        compliant=None if ratio is None or not figures.events else
        ratio <= 1 - figures.objective)


def hourly(series: PluginSeries, grid: np.ndarray) -> dict[str, np.ndarray]:
    """Per-hour counted events over the grid's cells."""
    outcomes = [series.deltas(col, grid) for col in s.OUTCOME_COLUMNS if series.has(col)]
    executions = (np.nansum(np.vstack(outcomes), axis=0) if outcomes
                  else np.full(len(grid) - 1, np.nan))
    return {"executions": executions, "successes": series.deltas(s.SUCCESS_COLUMN, grid),
            "cost": series.deltas(s.COST, grid)}


def poisson_score(ratio: np.ndarray, expected: np.ndarray, events: np.ndarray, window: int
                  ) -> np.ndarray:
    """How improbable each point's bad events are under Poisson, as a normal score (the
    one-sided z with the same tail probability). The rate is the larger of the expected ratio
    and the event-weighted ratio of the previous `window` points: with few failures the median
    hour has none, and zero would make every failure a surprise."""
    bad = pd.Series(np.nan_to_num(ratio) * np.nan_to_num(events))
    total = pd.Series(np.nan_to_num(events))
    baseline = (bad.rolling(window, min_periods=1).sum().shift(1)
                / total.rolling(window, min_periods=1).sum().shift(1)).to_numpy()
    with np.errstate(invalid="ignore"):
        observed = np.round(bad.to_numpy())
        mean = np.fmax(np.nan_to_num(expected), np.nan_to_num(baseline)) * total.to_numpy()
        tail = stats.poisson.sf(observed - 1, np.maximum(mean, 1e-9))
        score = stats.norm.isf(np.clip(tail, 1e-300, 1.0))
    return np.where(np.isnan(ratio) | np.isnan(expected), np.nan, score)


def _anomalies(kind: str, cells: np.ndarray, values: np.ndarray, weights: np.ndarray,
               settings: Settings, first_reported: int, direction: str | None,
               poisson_of: np.ndarray | None = None, material: float = 0.0
               ) -> tuple[list[Anomaly], float | None]:
    """Episodes ending inside the reported window whose impact reaches `material`, and the
    latest point's score. `poisson_of`: the event counts behind a ratio, whose Poisson
    improbability caps the score."""
    expected, _, score = settings.detector.score(values)
    if poisson_of is not None:
        score = np.fmin(score, poisson_score(values, expected, poisson_of,
                                             settings.detector.window))
    found: list[Episode] = [e for e in episodes(values, expected, score, weights,
                                                 settings.detector, direction)
                            if e.end >= first_reported and abs(e.impact) >= material]
    last = len(values) - 1
    out = []
    for e in found:
        out.append(Anomaly(
            kind=kind, start=iso(int(cells[e.start])), end=iso(int(cells[e.end + 1])),
            score=e.score, direction=e.direction, expected=e.expected, observed=e.observed,
            impact_usd=e.impact if kind == "cost" else None,
            impact_executions=e.impact if kind == "error_ratio" else None,
            ongoing=e.end == last))
    latest = score[last] if len(score) else np.nan
    return out, None if not np.isfinite(latest) else float(latest)


def evaluate_plugin(series: PluginSeries, slos: list[Slo], at_ms: int, settings: Settings
                    ) -> PluginOutcome:
    step_ms = settings.step_s * 1000
    window_ms = settings.window_ms
    slo_results = []
    for kind in c.SLO_KINDS:
        slo = slo_math.governing(slos, kind, series.plugin, series.plugin_type)
        if slo is not None:
            # levels interpolated between hourly points: 5m rates there mean nothing
            figures = slo_math.evaluate(series, slo, at_ms, step_ms,
                                        long_windows=settings.interpolate_gaps_s is None)
            slo_results.append(_slo_result(figures))
    quantiles = lat.quantiles_at(series, at_ms)

    hours = window_ms // HOUR_MS + settings.history_hours
    grid = at_ms - np.arange(hours, -1, -1, dtype="int64") * HOUR_MS
    per_hour = hourly(series, grid)
    first_reported = hours - window_ms // HOUR_MS
    with np.errstate(divide="ignore", invalid="ignore"):
        successes = per_hour["successes"]
        cost_per_success = np.where(successes >= settings.min_hourly_successes,
                                    per_hour["cost"] / successes, np.nan)
        executions = per_hour["executions"]
        error_ratio = np.where(executions >= settings.min_hourly_executions,
                               (executions - np.nan_to_num(successes)) / executions, np.nan)
    costs = score_costs(successes, per_hour["cost"], int(grid[0] // 1000),
                        settings.cost_detector)
    found_costs = cost_anomalies(costs, successes, per_hour["cost"], first_reported,
                                 settings.materiality.floor(series.plugin, series.plugin_type),
                                 settings.cost_detector, iso, grid)
    latest = costs.score[-1] if len(costs.score) else np.nan
    cost_score = float(latest) if np.isfinite(latest) else None
    # Failures are few and Poisson-distributed: an hour counts only when it is improbable under
    # Poisson at the expected ratio too (its score is the smaller of the two), at a threshold
    # that survives testing every hour of every plugin; and an episode must cost
    # `min_error_excess` failures and exceed the SLO's budget ratio.
    availability = slo_math.governing(slos, c.AVAILABILITY, series.plugin, series.plugin_type)
    budget_ratio = 1 - availability.objective if availability else 0.0
    error_detector = replace(settings.detector, threshold=settings.error_threshold)
    error_anomalies, _ = _anomalies("error_ratio", grid, error_ratio, executions,
                                    replace(settings, detector=error_detector), first_reported,
                                    "up", poisson_of=executions,
                                    material=settings.min_error_excess)
    error_anomalies = [a for a in error_anomalies if a.observed > budget_ratio]

    regressions = []
    for q in lat.QUANTILES:
        r = lat.regression(series, at_ms, window_ms, q=q,
                           threshold=settings.regression_threshold,
                           alpha=settings.regression_alpha,
                           min_executions=settings.regression_min_executions,
                           rounds=settings.permutation_rounds)
        regressions.append(LatencyRegression(window=settings.window, **r.__dict__))

    window_cps = cost_per_success[first_reported:]
    current = window_summary(series, at_ms - window_ms, at_ms, window_cps)
    previous_cps = cost_per_success[max(first_reported - window_ms // HOUR_MS, 0):first_reported]
    previous = window_summary(series, at_ms - 2 * window_ms, at_ms - window_ms, previous_cps)
    trend_map = {}
    for name in settings.trend_windows:
        span = int(seconds(name) * 1000)
        if span == window_ms:
            trend_map[name] = trends(current, previous)
        else:
            trend_map[name] = trends(window_summary(series, at_ms - span, at_ms),
                                     window_summary(series, at_ms - 2 * span, at_ms - span))
    days = max(window_ms // (24 * HOUR_MS), 1)
    day_grid = at_ms - np.arange(2 * days, -1, -1, dtype="int64") * 24 * HOUR_MS
    daily = hourly(series, day_grid)
    daily["errors"] = daily["executions"] - np.nan_to_num(daily["successes"])
    result = PluginResult(
        plugin=series.plugin, plugin_type=series.plugin_type, slos=slo_results,
        latency=Latency(p95=_finite(quantiles[0.95]), p99=_finite(quantiles[0.99])),
        cost_per_success_usd=current.cost_per_success_usd, cost_anomaly_score=cost_score,
        anomalies=found_costs + error_anomalies, latency_regressions=regressions,
        current_window=current, previous_window=previous, trends=trend_map)
    return PluginOutcome(result, lat.bucket_increments(series, at_ms - window_ms, at_ms),
                         lat.bucket_increments(series, at_ms - 2 * window_ms, at_ms - window_ms),
                         daily)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
