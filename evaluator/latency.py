"""Latency from the execution-duration histogram: quantiles exactly as `histogram_quantile`
computes them, and a regression test of one window against the previous one.

The regression test works on the bucket counts of both windows (the histogram is all Prometheus
keeps). It reports:
- the ratio of the quantile now to before (the effect size the alert and dashboards show);
- the tail test that decides: at each bucket bound from the one below the previous window's
  quantile up to the last with a tenth of that quantile's tail above it, is a larger share of
  the current window's executions above it than of the previous window's? One-sided Fisher
  exact tests (hypergeometric); the smallest p-value times the number of bounds tested
  (Bonferroni). Every execution beyond the old quantile is evidence, where a ratio of two
  interpolated quantiles moves little while a slowdown stays inside one bucket (power figures
  beside the permutation rule: docs/evaluator.md, "Tail regressions");
- a permutation test on the quantile ratio (pooled executions split at random into groups of
  the two windows' sizes), for comparison;
- a Mann-Whitney rank test from the same counts (ties by bucket), and Cliff's delta: it misses a
  regression confined to the tail;
- nothing but `insufficient_traffic` when either window has fewer than `min_executions`.
A regression needs both: the tail test below `alpha` and an effect worth a ticket: the quantile
ratio at `threshold` or more, or `TAIL_SHARE` times as many executions beyond the previous
window's quantile bucket.
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
# An effect worth a ticket besides the quantile ratio: this many times the previous window's
# share of executions beyond its quantile's bucket (buckets 2.5x apart hide a 3x slowdown of a
# few calls from the interpolated quantile, not from this count).
TAIL_SHARE = 1.5


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


def quantile_of_counts(q: float, counts: np.ndarray, bounds: np.ndarray = BOUNDS) -> np.ndarray:
    """Quantile of per-bucket counts (rows x buckets), interpolated as Prometheus does."""
    return histogram_quantile(q, bounds, np.cumsum(np.atleast_2d(counts), axis=1))


@dataclass(frozen=True)
class Regression:
    quantile: float
    current: float | None
    previous: float | None
    ratio: float | None
    p_value: float | None
    tail_p_value: float | None
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
                        rounds: int, rng: np.random.Generator, bounds: np.ndarray = BOUNDS
                        ) -> float:
    pooled = (current + previous).astype("int64")
    n1 = int(current.sum())
    drawn = rng.multivariate_hypergeometric(pooled, n1, size=rounds, method="marginals")
    rest = pooled[None, :] - drawn
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = quantile_of_counts(q, drawn, bounds) / quantile_of_counts(q, rest, bounds)
    return float((1 + np.sum(ratios >= observed * (1 - 1e-12))) / (rounds + 1))


def tail_test(q: float, current: np.ndarray, previous: np.ndarray) -> tuple[float, float]:
    """One-sided: the current window puts more executions above the bounds at and above the
    previous window's q-quantile than chance allows (Fisher exact per bound, Bonferroni). The
    p-value, and at the most telling bound how many times the previous window's share of
    executions lies above it now."""
    n1, n2 = int(current.sum()), int(previous.sum())
    below = np.cumsum(previous)
    first = int(np.searchsorted(below, q * n2))  # the bucket holding the previous quantile
    # "above bound j": buckets j+1..; from the bound below the quantile's bucket up to the
    # last bound that still had a tenth of the quantile's tail above it (deeper is another
    # quantile's business)
    above_now = np.concatenate([np.cumsum(current[::-1])[::-1][1:], [0.0]])
    above_before = np.concatenate([np.cumsum(previous[::-1])[::-1][1:], [0.0]])
    deep = np.flatnonzero(above_before[:-1] >= (1 - q) / 10 * n2)
    last = max(int(deep[-1]) if len(deep) else 0, first)
    bounds = np.arange(max(first - 1, 0), min(last + 1, len(previous) - 1))
    above_now, above_before = above_now[bounds], above_before[bounds]
    total = above_now + above_before
    tested = total > 0
    if not tested.any():
        return 1.0, 1.0
    p = stats.hypergeom.sf(above_now[tested] - 1, n1 + n2, total[tested], n1)
    best = int(np.argmin(p))
    share_now = above_now[tested][best] / max(n1, 1)
    share_before = above_before[tested][best] / max(n2, 1)
    ratio = share_now / share_before if share_before > 0 else float("inf")
    return float(min(1.0, p[best] * int(tested.sum()))), float(ratio)


def regression(series: PluginSeries, at_ms: int, window_ms: int, *, q: float = 0.95,
               threshold: float = 1.2, alpha: float = 0.01, min_executions: int = 200,
               rounds: int = 2000, seed: int = 0) -> Regression:
    current = bucket_increments(series, at_ms - window_ms, at_ms)
    previous = bucket_increments(series, at_ms - 2 * window_ms, at_ms - window_ms)
    return compare(current, previous, q=q, threshold=threshold, alpha=alpha,
                   min_executions=min_executions, rounds=rounds, seed=seed)


def compare(current: np.ndarray, previous: np.ndarray, *, q: float = 0.95,
            threshold: float = 1.2, alpha: float = 0.01, min_executions: int = 200,
            tail_share: float = TAIL_SHARE,
            rounds: int = 2000, seed: int = 0, bounds: np.ndarray = BOUNDS) -> Regression:
    """The regression test on two windows' per-bucket counts (`bounds`: the buckets' upper
    bounds, +Inf last)."""
    n1, n2 = round(current.sum()), round(previous.sum())
    now = float(quantile_of_counts(q, current, bounds)[0]) if n1 else float("nan")
    before = float(quantile_of_counts(q, previous, bounds)[0]) if n2 else float("nan")
    if min(n1, n2) < min_executions:
        return Regression(q, _num(now), _num(before), None, None, None, None, None, n1, n2,
                          "insufficient_traffic")
    observed = now / before if before > 0 else float("inf")
    current, previous = np.round(current), np.round(previous)
    p = permutation_p_value(q, current, previous, observed, rounds,
                            np.random.default_rng(seed), bounds) if rounds else None
    tail_up, share_up = tail_test(q, current, previous)
    tail_down, share_down = tail_test(q, previous, current)
    rank_p, delta = rank_test(current, previous)
    if tail_up < alpha and (observed >= threshold or share_up >= tail_share):
        status = "regression"
    elif tail_down < alpha and (observed <= 1 / threshold or share_down >= tail_share):
        status = "improvement"
    else:
        status = "no_change"
    return Regression(q, now, before, _num(observed), p, tail_up, rank_p, delta, n1, n2, status)


def _num(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
