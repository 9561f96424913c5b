"""A robust, seasonality-aware anomaly detector for hourly series (cost per successful execution,
error ratio), causal so that a score at time t uses nothing after t.

expected[t]: the median of the same phase in the previous `seasons` seasons (hour of day), or,
             until there are three of those, the median of the previous `window` points;
scale[t]:    1.4826 x the median absolute residual over the previous `window` points (a robust
             standard deviation), floored at `relative_floor` x |expected| so a flat baseline
             does not turn every wobble into an infinite score;
score[t]:    (observed - expected) / scale.

Points whose |score| reaches `threshold` form episodes; points closer than `merge_gap` join one
episode, so one incident is reported (and alerted) once, with its start, end, peak score,
direction, expected and observed means, and its impact.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Detector:
    season: int = 24
    seasons: int = 7
    window: int = 168
    min_history: int = 24
    threshold: float = 3.0
    relative_floor: float = 0.05
    absolute_floor: float = 1e-12
    merge_gap: int = 3

    def expected(self, values: np.ndarray) -> np.ndarray:
        series = pd.Series(values, dtype="float64")
        rolling = series.rolling(self.window, min_periods=self.min_history).median().shift(1)
        if not self.season or self.seasons < 3:
            return np.asarray(rolling.to_numpy(), dtype="float64")
        lags = np.column_stack([series.shift(k * self.season).to_numpy()
                                for k in range(1, self.seasons + 1)])
        enough = (~np.isnan(lags)).sum(axis=1) >= 3
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: handled by `enough`
            seasonal = np.nanmedian(lags, axis=1)
        return np.asarray(np.where(enough, seasonal, rolling.to_numpy()), dtype="float64")

    def score(self, values: np.ndarray, noise: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(expected, scale, score) for every point; NaN where there is too little history.
        `noise`: a per-point floor for the scale where sampling noise is known (a binomial
        standard deviation for a ratio of few events)."""
        values = np.asarray(values, dtype="float64")
        expected = self.expected(values)
        residual = pd.Series(np.abs(values - expected))
        spread = residual.rolling(self.window, min_periods=self.min_history).median().shift(1)
        floors = [MAD_TO_SIGMA * spread.to_numpy(), self.relative_floor * np.abs(expected),
                  np.full(len(values), self.absolute_floor)]
        if noise is not None:
            floors.append(np.nan_to_num(noise))
        scale = np.maximum.reduce(floors)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (values - expected) / scale
        return expected, scale, score

    def novelty(self, values: np.ndarray, lookback: int) -> np.ndarray:
        """Each point's absolute residual from the seasonal baseline over the largest of the
        previous `lookback` points (above 1: larger than anything seen in that time). For series
        without a noise model (NAB's infrastructure metrics): a z-score's scale assumes a law
        the residuals of bursty series do not follow; a record needs no law."""
        values = np.asarray(values, dtype="float64")
        residual = pd.Series(np.abs(values - self.expected(values)))
        largest = residual.rolling(lookback, min_periods=self.min_history).max().shift(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(residual / largest.to_numpy(), dtype="float64")


@dataclass(frozen=True)
class Episode:
    start: int  # index of the first anomalous point
    end: int  # index of the last
    peak: int  # index of the highest |score|
    score: float
    direction: str  # up | down
    expected: float
    observed: float
    impact: float  # sum over the episode of (observed - expected) x weight


def episodes(values: np.ndarray, expected: np.ndarray, score: np.ndarray, weights: np.ndarray,
             detector: Detector, direction: str | None = None) -> list[Episode]:
    """Merge the anomalous points into episodes. `weights` turn a deviation into impact
    (successful executions for cost per success, executions for an error ratio)."""
    with np.errstate(invalid="ignore"):
        if direction == "up":
            hot = score >= detector.threshold
        elif direction == "down":
            hot = score <= -detector.threshold
        else:
            hot = np.abs(score) >= detector.threshold
    hot = np.nan_to_num(hot, nan=False).astype(bool)
    indices = np.flatnonzero(hot)
    if not len(indices):
        return []
    runs: list[list[int]] = [[int(indices[0])]]
    for index in indices[1:]:
        if index - runs[-1][-1] <= detector.merge_gap:
            runs[-1].append(int(index))
        else:
            runs.append([int(index)])
    out = []
    for run in runs:
        span = np.arange(run[0], run[-1] + 1)
        points = np.array(run)
        peak = int(points[np.nanargmax(np.abs(score[points]))])
        weight = np.nan_to_num(weights[span])
        deviation = np.nan_to_num(values[span] - expected[span])
        out.append(Episode(run[0], run[-1], peak, float(score[peak]),
                           "up" if score[peak] > 0 else "down",
                           float(np.nanmean(expected[points])), float(np.nanmean(values[points])),
                           float(np.sum(deviation * weight))))
    return out
