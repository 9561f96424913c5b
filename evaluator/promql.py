"""PromQL's functions, vectorised over evaluation instants, with Prometheus 2.x semantics to the
last digit: the evaluator and the recording rules must compute the same numbers.

- `extrapolated_rate` is Prometheus' `extrapolatedRate` (promql/functions.go): counter resets
  added back, extrapolation to the range boundaries when the first/last sample is within 1.1
  average intervals of them (half an interval otherwise), never below the counter's zero point.
  A range selects samples in [t - range, t] (Prometheus 2.x; 3.x excludes the left edge:
  `left_open=True`).
- `histogram_quantile` is `bucketQuantile` (promql/quantile.go): monotonic fix-up, linear
  interpolation in the bucket, the lowest bucket starting at 0, +Inf answered by the highest
  finite bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAN = float("nan")


def window_bounds(ts: np.ndarray, evals: np.ndarray, range_ms: int, left_open: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    lo = np.searchsorted(ts, evals - range_ms, side="right" if left_open else "left")
    hi = np.searchsorted(ts, evals, side="right") - 1
    return lo, hi


def reset_adjustments(values: np.ndarray) -> np.ndarray | None:
    """Running total of what counter resets took away (None when the counter never reset)."""
    falls = values[1:] < values[:-1]
    if not falls.any():
        return None
    drops = np.zeros(len(values))
    drops[1:] = np.where(falls, values[:-1], 0.0)
    return np.cumsum(drops)


@dataclass(frozen=True)
class RateGeometry:
    """What `extrapolatedRate` derives from sample times alone, for one series' timestamps, a
    set of evaluation instants and a range: shared by every series with those timestamps."""

    ok: np.ndarray  # instants whose range holds >= 2 samples
    lo: np.ndarray
    hi: np.ndarray
    to_start: np.ndarray
    to_end: np.ndarray
    sampled: np.ndarray
    threshold: np.ndarray
    average: np.ndarray
    factor: np.ndarray  # extrapolated interval / sampled interval / range (the usual case)
    range_s: float

    @classmethod
    def of(cls, ts: np.ndarray, evals: np.ndarray, range_ms: int, is_rate: bool = True,
           left_open: bool = False) -> RateGeometry:
        lo, hi = window_bounds(ts, evals, range_ms, left_open)
        ok = (hi - lo) >= 1
        lo, hi, at = lo[ok], hi[ok], evals[ok]
        first_t, last_t = ts[lo], ts[hi]
        to_start = (first_t - (at - range_ms)) / 1000.0
        to_end = (at - last_t) / 1000.0
        sampled = (last_t - first_t) / 1000.0
        average = sampled / np.maximum(hi - lo, 1)
        threshold = average * 1.1
        range_s = range_ms / 1000.0 if is_rate else 1.0
        factor = _interval(sampled, to_start, to_end, threshold, average) / sampled / range_s
        return cls(ok, lo, hi, to_start, to_end, sampled, threshold, average, factor, range_s)


def _interval(sampled: np.ndarray, to_start: np.ndarray, to_end: np.ndarray,
              threshold: np.ndarray, average: np.ndarray) -> np.ndarray:
    return (sampled + np.where(to_start < threshold, to_start, average / 2)
            + np.where(to_end < threshold, to_end, average / 2))


def extrapolated_rate(ts: np.ndarray, values: np.ndarray, evals: np.ndarray, range_ms: int,
                      *, is_rate: bool = True, is_counter: bool = True,
                      left_open: bool = False, adjust: np.ndarray | None = None,
                      adjusted: bool = False, geometry: RateGeometry | None = None
                      ) -> np.ndarray:
    """rate() (or increase() with is_rate=False) of one series at each instant of `evals` (ms).
    `ts` ascending int64 ms, `values` without NaN. NaN where the range holds < 2 samples.
    `adjust`: `reset_adjustments(values)` when the caller has it (`adjusted=True` says it
    passed it, None meaning no resets); `geometry`: `RateGeometry.of(ts, evals, range_ms)`
    when several series share their timestamps."""
    evals = np.asarray(evals, dtype="int64")
    out = np.full(evals.shape, NAN)
    if len(ts) < 2:
        return out
    g = geometry or RateGeometry.of(ts, evals, range_ms, is_rate, left_open)
    if not g.ok.any():
        return out
    result = values[g.hi] - values[g.lo]
    if is_counter:
        if not adjusted:
            adjust = reset_adjustments(values)
        if adjust is not None:
            result = result + (adjust[g.hi] - adjust[g.lo])
    factor = g.factor
    if is_counter:
        # Never extrapolate below the counter's zero point: where the zero point is nearer
        # than the range start, the interval starts there (rare: only young counters).
        first_v = values[g.lo]
        with np.errstate(divide="ignore", invalid="ignore"):
            to_zero = g.sampled * (first_v / result)
        nearer = (result > 0) & (first_v >= 0) & (to_zero < g.to_start)
        if nearer.any():
            factor = factor.copy()
            factor[nearer] = _interval(g.sampled[nearer], to_zero[nearer], g.to_end[nearer],
                                       g.threshold[nearer], g.average[nearer]) \
                / g.sampled[nearer] / g.range_s
    out[g.ok] = result * factor
    return out


def sum_over_time(ts: np.ndarray, values: np.ndarray, evals: np.ndarray, range_ms: int,
                  *, left_open: bool = False) -> np.ndarray:
    """sum_over_time() of a series sampled at `ts` (NaN = no sample), at each instant."""
    keep = ~np.isnan(values)
    ts, values = ts[keep], values[keep]
    evals = np.asarray(evals, dtype="int64")
    out = np.full(evals.shape, NAN)
    if not len(ts):
        return out
    lo, hi = window_bounds(ts, evals, range_ms, left_open)
    ok = hi >= lo
    # Window sums with math.fsum-like care are not needed here: Prometheus adds in order too,
    # and a prefix-sum difference agrees with it far inside 1e-9 relative for these magnitudes.
    prefix = np.concatenate([[0.0], np.cumsum(values)])
    out[ok] = prefix[hi[ok] + 1] - prefix[lo[ok]]
    return out


def histogram_quantile(q: float, bounds: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """histogram_quantile(q, ...) for each row of `counts` (rows x buckets, cumulative, the last
    bound +Inf). A NaN count means that bucket has no series at that instant."""
    counts = np.atleast_2d(np.asarray(counts, dtype="float64"))
    out = np.full(counts.shape[0], NAN)
    for row in np.flatnonzero(np.isnan(counts).any(axis=1)):
        keep = ~np.isnan(counts[row])
        out[row] = _quantile_one(q, bounds[keep], counts[row, keep])
    whole = ~np.isnan(counts).any(axis=1)
    if whole.any():
        out[whole] = _quantile_rows(q, bounds, counts[whole])
    return out


def _quantile_one(q: float, bounds: np.ndarray, counts: np.ndarray) -> float:
    if not len(bounds) or not np.isinf(bounds[-1]):
        return NAN
    return float(_quantile_rows(q, bounds, counts[None, :])[0])


def _quantile_rows(q: float, bounds: np.ndarray, counts: np.ndarray) -> np.ndarray:
    if q < 0:
        return np.full(counts.shape[0], -np.inf)
    if q > 1:
        return np.full(counts.shape[0], np.inf)
    if len(bounds) < 2:
        return np.full(counts.shape[0], NAN)
    cum = np.maximum.accumulate(counts, axis=1)  # ensureMonotonic
    observations = cum[:, -1]
    rank = q * observations
    finite = cum[:, :-1] >= rank[:, None]
    b = np.where(finite.any(axis=1), finite.argmax(axis=1), len(bounds) - 1)
    rows = np.arange(len(b))
    end = bounds[np.minimum(b, len(bounds) - 1)]
    start = np.where(b > 0, bounds[np.maximum(b - 1, 0)], 0.0)
    below = np.where(b > 0, cum[rows, np.maximum(b - 1, 0)], 0.0)
    count = cum[rows, np.minimum(b, len(bounds) - 1)] - below
    with np.errstate(divide="ignore", invalid="ignore"):
        value = start + (end - start) * ((rank - below) / count)
    value = np.where(b == len(bounds) - 1, bounds[-2], value)
    value = np.where((b == 0) & (bounds[0] <= 0), bounds[0], value)
    return np.where(observations == 0, NAN, value)
