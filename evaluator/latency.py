"""Latency from the execution-duration histogram: quantiles exactly as `histogram_quantile`
computes them, and a regression test of one window against the previous one.

The regression test works on the bucket counts of both windows (the histogram is all Prometheus
keeps). It reports:
- the ratio of the quantile now to before (the effect size the alert and dashboards show);
- a permutation test on that ratio: the pooled executions are split at random into groups of the
  two windows' sizes (multivariate hypergeometric draws), and the p-value is the share of splits
  whose ratio is at least the observed one. It sees a regression confined to the tail, which a
  rank test misses;
- a Mann-Whitney rank test from the same counts (ties by bucket), and Cliff's delta;
- nothing but `insufficient_traffic` when either window has fewer than `min_executions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from collector import schema as s
from evaluator.promql import histogram_quantile
from evaluator.series import PluginSeries

BOUNDS = np.asarray(s.BUCKET_BOUNDS, dtype="float64")
QUANTILES = (0.95, 0.99)
QUANTILE_RANGE_MS = 30 * 60_000  # the rules' p95/p99: rate over 30m


def quantiles_at(series: PluginSeries, at_ms: int, range_ms: int = QUANTILE_RANGE_MS
                 ) -> dict[float, float]:
    """histogram_quantile(q, sum by (le) (rate(bucket[range]))) at `at`."""
    at = np.array([at_ms], dtype="int64")
    rates = np.array([[series.rate(col, at, range_ms)[0] for col in s.BUCKET_COLUMNS]])
    return {q: float(histogram_quantile(q, BOUNDS, rates)[0]) for q in QUANTILES}


def bucket_increments(series: PluginSeries, start_ms: int, end_ms: int) -> np.ndarray:
    """Executions per bucket (not cumulative) in (start, end]; zeros where there is no data."""
    cumulative = np.array([series.increase(col, start_ms, end_ms) for col in s.BUCKET_COLUMNS])
    cumulative = np.nan_to_num(np.maximum.accumulate(np.nan_to_num(cumulative)))
    return np.diff(np.concatenate([[0.0], cumulative]))


def quantile_of_counts(q: float, counts: np.ndarray) -> np.ndarray:
    """Quantile of per-bucket counts (rows x buckets), interpolated as Prometheus does."""
    return histogram_quantile(q, BOUNDS, np.cumsum(np.atleast_2d(counts), axis=1))


@dataclass(frozen=True)
class Regression:
    quantile: float
    current: float | None
    previous: float | None
    ratio: float | None
    p_value: float | None
    rank_p_value: float | None
    cliffs_delta: float | None
    current_executions: int
    previous_executions: int
    status: str  # regression | no_change | improvement | insufficient_traffic


def rank_test(current: np.ndarray, previous: np.ndarray) -> tuple[float, float]:
    """One-sided Mann-Whitney (current slower) from bucket counts, and Cliff's delta."""
    n1, n2 = current.sum(), previous.sum()
    below = np.concatenate([[0.0], np.cumsum(previous)[:-1]])
    u = float(np.sum(current * (below + previous / 2.0)))
    ties = current + previous
    total = n1 + n2
    variance = n1 * n2 / 12.0 * ((total + 1) - np.sum(ties ** 3 - ties) / (total * (total - 1)))
    delta = 2.0 * u / (n1 * n2) - 1.0
    if variance <= 0:
        return 1.0, delta
    z = (u - n1 * n2 / 2.0) / np.sqrt(variance)
    return float(stats.norm.sf(z)), delta


def permutation_p_value(q: float, current: np.ndarray, previous: np.ndarray, observed: float,
                        rounds: int, rng: np.random.Generator) -> float:
    pooled = (current + previous).astype("int64")
    n1 = int(current.sum())
    drawn = rng.multivariate_hypergeometric(pooled, n1, size=rounds, method="marginals")
    rest = pooled[None, :] - drawn
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = quantile_of_counts(q, drawn) / quantile_of_counts(q, rest)
    return float((1 + np.sum(ratios >= observed * (1 - 1e-12))) / (rounds + 1))


def regression(series: PluginSeries, at_ms: int, window_ms: int, *, q: float = 0.95,
               threshold: float = 1.2, alpha: float = 0.01, min_executions: int = 200,
               rounds: int = 2000, seed: int = 0) -> Regression:
    current = bucket_increments(series, at_ms - window_ms, at_ms)
    previous = bucket_increments(series, at_ms - 2 * window_ms, at_ms - window_ms)
    n1, n2 = round(current.sum()), round(previous.sum())
    now = float(quantile_of_counts(q, current)[0]) if n1 else float("nan")
    before = float(quantile_of_counts(q, previous)[0]) if n2 else float("nan")
    if min(n1, n2) < min_executions:
        return Regression(q, _num(now), _num(before), None, None, None, None, n1, n2,
                          "insufficient_traffic")
    observed = now / before if before > 0 else float("inf")
    rng = np.random.default_rng(seed)
    p = permutation_p_value(q, np.round(current), np.round(previous), observed, rounds, rng)
    rank_p, delta = rank_test(current, previous)
    if observed >= threshold and p < alpha:
        status = "regression"
    elif observed <= 1 / threshold and (1 - p) < alpha:
        status = "improvement"
    else:
        status = "no_change"
    return Regression(q, now, before, _num(observed), p, rank_p, delta, n1, n2, status)


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
