"""From hourly cost scores to reported cost anomalies: each episode's impact in dollars, its share
of the plugin's spend, its shape, the baseline it was judged against, and whether it is material
(alerted) or minor (listed only).

Shapes, read from the episode's hours (a description for the reader, not a separate test):
- `level_shift`: a day or more, and the expectation afterwards holds at least half the rise (the
  baseline took the new level as normal);
- `leak`: half a day or more with the unit cost climbing: the last third's ratio to expectation
  at least 1.25x the first third's;
- `intermittent`: six hours or more in which under half the hours carry the excess;
- `spike`: at most six hours; `plateau`: anything else.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evaluator.cost_anomaly import DAY, CostDetector, CostScores, episodes
from evaluator.materiality import Floor
from evaluator.results import Anomaly


def cost_anomalies(scores: CostScores, successes: np.ndarray, cost: np.ndarray,
                   first_reported: int, floor: Floor, detector: CostDetector,
                   iso: Callable[[int], str], cells: np.ndarray) -> list[Anomaly]:
    """Upward episodes that end inside the reported hours (cost per success falling is not an
    incident). `cells[i]` is hour i's start in ms, `cells[i + 1]` its end."""
    n = np.nan_to_num(successes)
    c = np.nan_to_num(cost)
    expected = scores.expected
    spend = float(c[first_reported:].sum())
    last = len(n) - 1
    out = []
    for first, end, last_hot in spans(scores, n, c, detector):
        if end < first_reported:
            continue
        span = slice(first, end + 1)
        extra_cost = np.nan_to_num(c[span] - n[span] * expected[span])
        impact = float(extra_cost.sum())
        calls = float(n[span].sum())
        expected_cost = float(np.nansum(n[span] * expected[span]))
        share = impact / spend if spend > 0 else None
        out.append(Anomaly(
            kind="cost", start=iso(int(cells[first])), end=iso(int(cells[end + 1])),
            score=float(np.nanmax(scores.score[span])), direction="up",
            expected=expected_cost / calls if calls else float(np.nanmean(expected[span])),
            observed=float(c[span].sum()) / calls if calls else float("nan"),
            impact_usd=impact, impact_executions=None, ongoing=last_hot == last,
            shape=shape(scores, n, c, first, end), baseline=str(scores.baseline[first]) or None,
            share=share,
            material=impact >= floor.usd and (share is None or share >= floor.share)))
    return out


def spans(scores: CostScores, n: np.ndarray, c: np.ndarray, detector: CostDetector
          ) -> list[tuple[int, int, int]]:
    """(first hour, last hour of the incident, last hot hour) of each upward episode."""
    return [(first, _last_excess(scores, n, c, first, last_hot), last_hot)
            for first, last_hot in episodes(scores, detector, "up")]


def shape(scores: CostScores, n: np.ndarray, c: np.ndarray, first: int, end: int) -> str:
    hours = end - first + 1
    expected = scores.expected
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = c[first:end + 1] / (n[first:end + 1] * expected[first:end + 1])
    rise = _pooled(c, n, expected, first, end + 1) - 1.0
    if hours >= DAY:
        before, after = scores.level[first], scores.level[min(end + DAY, len(n) - 1)]
        if np.isfinite(before) and np.isfinite(after) and before > 0 \
                and after / before - 1 >= rise / 2:
            return "level_shift"
    if hours >= 12:
        third = max(hours // 3, 1)
        head, tail = _pooled(c, n, expected, first, first + third), \
            _pooled(c, n, expected, end + 1 - third, end + 1)
        if np.isfinite(head) and np.isfinite(tail) and tail >= 1.25 * head:
            return "leak"
    if hours >= 6 and np.mean(np.nan_to_num(ratio) > 1 + rise / 2) < 0.5:
        return "intermittent"
    return "spike" if hours <= 6 else "plateau"


def _last_excess(scores: CostScores, n: np.ndarray, c: np.ndarray, first: int, last_hot: int
                 ) -> int:
    """Where the episode's extra spend stops growing (the peak of its running sum): a window of
    a day or three stays hot for that long after the incident it saw, and those hours are not
    part of it."""
    span = slice(first, last_hot + 1)
    excess = np.nan_to_num(c[span] - n[span] * scores.expected[span])
    return first + int(np.argmax(np.cumsum(excess)))


def _pooled(c: np.ndarray, n: np.ndarray, expected: np.ndarray, lo: int, hi: int) -> float:
    exp = float(np.nansum(n[lo:hi] * expected[lo:hi]))
    return float(c[lo:hi].sum()) / exp if exp > 0 else float("nan")
