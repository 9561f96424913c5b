"""The vectorised PromQL functions against a line-by-line transcription of Prometheus 2.x's Go
code (promql/functions.go `extrapolatedRate`, promql/quantile.go `bucketQuantile`), on random
series with resets, gaps and young counters. The real Prometheus holds the semantics in
tests/test_evaluator_agreement.py; this holds the vectorisation at every edge."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluator.promql import extrapolated_rate, histogram_quantile, sum_over_time


def go_extrapolated_rate(ts: list[int], vs: list[float], at: int, range_ms: int,
                         is_rate: bool = True) -> float:
    points = [(t, v) for t, v in zip(ts, vs, strict=True) if at - range_ms <= t <= at]
    if len(points) < 2:
        return math.nan
    result = points[-1][1] - points[0][1]
    previous = points[0][1]
    for _, value in points[1:]:
        if value < previous:
            result += previous
        previous = value
    to_start = (points[0][0] - (at - range_ms)) / 1000
    to_end = (at - points[-1][0]) / 1000
    sampled = (points[-1][0] - points[0][0]) / 1000
    average = sampled / (len(points) - 1)
    if result > 0 and points[0][1] >= 0:
        to_zero = sampled * (points[0][1] / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    factor = interval / sampled
    if is_rate:
        factor /= range_ms / 1000
    return result * factor


def go_bucket_quantile(q: float, bounds: list[float], counts: list[float]) -> float:
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if not math.isinf(bounds[-1]):
        return math.nan
    counts = list(counts)
    for i in range(1, len(counts)):  # ensureMonotonic
        counts[i] = max(counts[i], counts[i - 1])
    if len(bounds) < 2 or counts[-1] == 0:
        return math.nan
    rank = q * counts[-1]
    b = next((i for i in range(len(bounds) - 1) if counts[i] >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(start + (end - start) * (rank / count))


@st.composite
def counters(draw: st.DrawFn) -> tuple[list[int], list[float]]:
    """Irregular scrapes (gaps included) of a counter that may start above zero and reset."""
    count = draw(st.integers(2, 60))
    gaps = draw(st.lists(st.sampled_from([15_000, 30_000, 60_000, 60_000, 61_234, 300_000]),
                         min_size=count, max_size=count))
    ts = list(np.cumsum(gaps) + 1_790_000_000_000)
    value = draw(st.floats(0, 1000))
    values = []
    for _ in range(count):
        if draw(st.integers(0, 20)) == 0:
            value = draw(st.floats(0, 5))  # reset
        else:
            value += draw(st.floats(0, 50))
        values.append(value)
    return [int(t) for t in ts], values


@settings(max_examples=300, deadline=None)
@given(counters(), st.sampled_from([60_000, 300_000, 1_800_000]), st.integers(-120, 4000),
       st.booleans())
def test_rate_and_increase_match_prometheus_code(series: tuple[list[int], list[float]],
                                                 range_ms: int, offset_s: int,
                                                 is_rate: bool) -> None:
    ts, vs = series
    evals = np.array([ts[0] + offset_s * 1000 + k * 17_000 for k in range(40)], dtype="int64")
    mine = extrapolated_rate(np.array(ts, dtype="int64"), np.array(vs), evals, range_ms,
                             is_rate=is_rate)
    for at, value in zip(evals.tolist(), mine.tolist(), strict=True):
        expected = go_extrapolated_rate(ts, vs, at, range_ms, is_rate)
        if math.isnan(expected):
            assert math.isnan(value)
        else:
            assert math.isclose(value, expected, rel_tol=1e-12, abs_tol=1e-12), (at, value,
                                                                                 expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1000), min_size=2, max_size=12), st.floats(0, 1),
       st.booleans(), st.booleans())
def test_histogram_quantile_matches_prometheus_code(increments: list[float], q: float,
                                                    negative_first: bool,
                                                    non_monotonic: bool) -> None:
    bounds = [(-1.0 if negative_first and i == 0 else 0.1 * (i + 1))
              for i in range(len(increments) - 1)] + [math.inf]
    bounds = sorted(bounds)
    counts = list(np.cumsum(increments))
    if non_monotonic and len(counts) > 2:
        counts[1] = counts[1] * 0.5  # a scrape that saw buckets at different moments
    mine = histogram_quantile(q, np.array(bounds), np.array([counts]))[0]
    expected = go_bucket_quantile(q, bounds, counts)
    assert (math.isnan(mine) and math.isnan(expected)) or math.isclose(mine, expected,
                                                                      rel_tol=1e-12)


def test_a_missing_bucket_series_is_left_out_as_prometheus_does() -> None:
    bounds = np.array([0.1, 0.5, 1.0, math.inf])
    counts = np.array([[10.0, np.nan, 40.0, 50.0]])
    expected = go_bucket_quantile(0.5, [0.1, 1.0, math.inf], [10.0, 40.0, 50.0])
    assert histogram_quantile(0.5, bounds, counts)[0] == expected
    assert math.isnan(histogram_quantile(0.5, bounds, np.array([[1.0, 2.0, 3.0, np.nan]]))[0])


def test_sum_over_time_includes_both_edges_and_skips_absent_samples() -> None:
    ts = np.array([0, 60_000, 120_000, 180_000], dtype="int64")
    values = np.array([1.0, np.nan, 3.0, 4.0])
    got = sum_over_time(ts, values, np.array([180_000, 30_000]), 120_000)
    assert got[0] == 7.0  # 60s is absent; 60s..180s inclusive
    assert got[1] == 1.0
