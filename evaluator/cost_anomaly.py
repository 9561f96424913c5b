"""Cost per success anomalies that know the evidence behind each hour.

An hour's cost per success is a mean over its successes: with n successes its sampling spread is
the per-call spread over sqrt(n). The detector models an hour's cost C given its n successes and
the expected unit cost mu as a variable with mean n * mu and variance
n * mu^2 * (a + n * b + n * base): `a` is the per-call squared coefficient of variation, `b` the
hour-to-hour variation the model does not explain, `base` the uncertainty of mu itself; a and b
are fitted on the plugin's own past residuals (var = a / n + b). A quiet plugin's noisy hour is then
an expected event and a busy plugin's small shift is not.

Baseline (causal: a day's expectation uses only the days before it):
- expected[h] = level(day) x profile(h);
- profile: the hour of the day once a day of history exists; the hour of the week (hour of day x
  day of week x a slot factor shrunk towards 1 by the calls behind it) once `weekly_after_days`
  (two weeks) exist. Which one was used is returned per hour;
- level: the median of the last `level_days` (5) days' deseasonalised unit costs. A persistent
  shift is flagged from its start until the median holds it (about three days), as one episode,
  and is the new normal afterwards: it is not reported again.
Hours flagged in runs shorter than a day are left out of the profile, so an incident does not
teach the baseline (a longer run is a pattern or the new level).

Evidence is pooled over trailing windows of 1, 6, 24 and 72 hours (`scales`, a moving-sum test;
a window needs `min_calls` successes): a quiet plugin is judged on a day or three of calls where
an hour holds too few, and a slow leak (the unit cost drifting up over a day or two) accumulates
evidence while it grows. The score of an hour is
the strongest scale's signed normal score: the window's ratio of cost to expected cost taken as
lognormal with the model's variance (Fenton-Wilkinson), the z of the same tail probability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DAY = 24
WEEK = 7 * DAY
HOUR_OF_DAY = "hour_of_day"
HOUR_OF_WEEK = "hour_of_week"
NO_BASELINE = ""


@dataclass(frozen=True)
class CostDetector:
    threshold: float = 4.0  # |z| of a scale's tail probability
    scales: tuple[int, ...] = (1, 6, 24, 72)  # hours pooled
    min_calls: float = 20.0  # a window with fewer successes is not judged (heavy tails)
    level_days: int = 5
    weekly_after_days: int = 14  # hour of the week once this much history exists
    profile_days: int = 28  # history the profile is fitted on
    noise_days: int = 14  # history the noise model is fitted on
    profile_spread: float = 0.3  # prior spread of profile factors (shrinkage)
    merge_gap: int = 6  # hot hours this close are one episode
    day_spread: float = 0.01  # least day-to-day spread of the level a day's evidence meets
    default_cv2: float = 1.0  # per-call squared spread before enough history to fit one
    default_extra: float = 0.01


@dataclass(frozen=True)
class CostScores:
    expected: np.ndarray  # expected cost per success for each hour (NaN: no baseline yet)
    score: np.ndarray  # strongest scale's signed normal score (NaN: nothing to judge)
    scale: np.ndarray  # hours pooled by the strongest scale (0: none)
    baseline: np.ndarray  # HOUR_OF_WEEK | HOUR_OF_DAY | NO_BASELINE per hour
    level: np.ndarray  # the deseasonalised level in force each hour (NaN: none yet)


def score_costs(successes: np.ndarray, cost: np.ndarray, first_hour_s: int,
                detector: CostDetector | None = None) -> CostScores:
    """Scores for hourly successes and cost; index 0 is the hour starting at `first_hour_s`
    (UTC epoch seconds, a whole hour)."""
    d = detector or CostDetector()
    n = np.nan_to_num(np.asarray(successes, dtype="float64"))
    c = np.nan_to_num(np.asarray(cost, dtype="float64"))
    hours = len(n)
    hour_index = (first_hour_s // 3600 + np.arange(hours)) % WEEK  # 0: Thursday 00:00 UTC
    hour_index = (hour_index + 3 * DAY) % WEEK  # 0: Monday 00:00 UTC
    expected = np.full(hours, np.nan)
    levels = np.full(hours, np.nan)
    score = np.full(hours, np.nan)
    scale_of = np.zeros(hours, dtype="int64")
    baseline = np.full(hours, NO_BASELINE, dtype=object)
    flagged = np.zeros(hours, dtype=bool)  # hours behind a flag, in the regime in force
    offset = (hour_index[0] % DAY) if hours else 0  # the first day may be partial
    starts = [0, *range(DAY - offset if offset else DAY, hours, DAY)]
    base_var = np.zeros(hours)
    cv2, extra = d.default_cv2, d.default_extra
    for day_start in starts:
        day_end = min(day_start + DAY, hours)
        history = slice(max(0, day_start - d.profile_days * DAY), day_start)
        if day_start < DAY:
            continue
        weekly = day_start >= d.weekly_after_days * DAY
        if weekly and day_start - DAY < d.weekly_after_days * DAY:
            # under the daily baseline a weekly cycle looks like incidents: forget those flags
            flagged[:day_start] = False
        keep = ~_short_runs(flagged[history], DAY, d.merge_gap) & (n[history] > 0)
        profile_of = _profile(n[history], c[history], hour_index[history], keep, weekly,
                              cv2 / d.profile_spread ** 2)
        today = slice(day_start, day_end)
        profile_today = profile_of(hour_index[today])
        level, level_calls = _level(n, c, hour_index, profile_of, day_start, d.level_days)
        if not np.isfinite(level):
            continue
        expected[today] = level * profile_today
        levels[today] = level
        baseline[today] = HOUR_OF_WEEK if weekly else HOUR_OF_DAY
        noise = slice(max(0, day_start - d.noise_days * DAY), day_start)
        fitted = _noise(n[noise], c[noise], expected[noise], flagged[noise])
        if fitted is not None:
            cv2, extra = fitted
        base_var[today] = cv2 / max(level_calls, 1.0) + _day_variance(
            n[noise], c[noise], expected[noise], cv2, extra, d.day_spread)
        regime_start = d.weekly_after_days * DAY if weekly else 0
        score[today], scale_of[today] = _scores(n, c, expected, base_var, cv2, extra,
                                                day_start, day_end, d.scales, d.min_calls,
                                                regime_start)
        _flag(flagged, n, c, expected, score, scale_of, day_start, day_end, d.threshold)
    return CostScores(expected, score, scale_of, baseline, levels)


def _profile(n: np.ndarray, c: np.ndarray, index: np.ndarray, keep: np.ndarray, weekly: bool,
             shrink: float) -> Callable[[np.ndarray], np.ndarray]:
    """A function from hour-of-week index to the multiplicative profile, fitted on history:
    hour of day, then (weekly) day of week and hour-of-week slot on what is left."""
    local = _local_level(n, c)
    keep = keep & np.isfinite(local)
    calls = np.where(keep, n, 0.0)
    observed = np.where(keep, c, 0.0)
    expected = np.where(keep, n * np.nan_to_num(local), 0.0)
    hod = _factor(observed, expected, calls, index % DAY, DAY, shrink)
    if not weekly:
        return lambda at: hod[np.asarray(at) % DAY]
    expected = expected * hod[index % DAY]
    dow = _factor(observed, expected, calls, index // DAY, 7, shrink)
    expected = expected * dow[index // DAY]
    slot = _factor(observed, expected, calls, index, WEEK, shrink)
    week = hod[np.arange(WEEK) % DAY] * dow[np.arange(WEEK) // DAY] * slot
    return lambda at: week[np.asarray(at)]


def _factor(observed: np.ndarray, expected: np.ndarray, calls: np.ndarray, key: np.ndarray,
            size: int, shrink: float) -> np.ndarray:
    """Observed over expected cost per key, shrunk towards 1 by the calls behind it: a factor
    backed by `shrink` calls moves halfway (the per-call noise over the prior spread of
    factors, so a quiet plugin's profile is not its noise)."""
    obs = np.bincount(key, weights=observed, minlength=size)
    exp = np.bincount(key, weights=expected, minlength=size)
    behind = np.bincount(key, weights=calls, minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(exp > 0, obs / exp, 1.0)
    mix = behind / (behind + shrink)
    return np.asarray(mix * raw + (1 - mix), dtype="float64")


def _local_level(n: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Pooled unit cost of the week centred on each hour (cut at the ends): the level a profile
    factor is measured against."""
    cn, cc = np.concatenate([[0.0], np.cumsum(n)]), np.concatenate([[0.0], np.cumsum(c)])
    idx = np.arange(len(n))
    lo, hi = np.clip(idx - WEEK // 2, 0, len(n)), np.clip(idx + WEEK // 2, 0, len(n))
    lo = np.minimum(lo, np.maximum(hi - WEEK, 0))
    hi = np.maximum(hi, np.minimum(lo + WEEK, len(n)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((cc[hi] - cc[lo]) / (cn[hi] - cn[lo]), dtype="float64")


def _level(n: np.ndarray, c: np.ndarray, index: np.ndarray,
           profile_of: Callable[[np.ndarray], np.ndarray], start: int, days: int
           ) -> tuple[float, float]:
    """The median of the last `days` whole days' deseasonalised unit costs, and the calls behind
    them."""
    levels, calls = [], 0.0
    for k in range(1, days + 1):
        span = slice(max(start - k * DAY, 0), start - (k - 1) * DAY)
        if span.start >= span.stop:
            break
        weight = n[span] * profile_of(index[span])
        if weight.sum() > 0:
            levels.append(c[span].sum() / weight.sum())
            calls += n[span].sum()
    return (float(np.median(levels)), calls) if levels else (float("nan"), 0.0)


def _noise(n: np.ndarray, c: np.ndarray, expected: np.ndarray, flagged: np.ndarray
           ) -> tuple[float, float] | None:
    """(a, b) of var(C / (n mu) - 1) = a / n + b, by weighted least squares on the past hours
    that were judged and not flagged, their largest 2% left out (a missed incident)."""
    use = (n > 0) & np.isfinite(expected) & (expected > 0) & ~flagged
    if use.sum() < 48:
        return None
    x = 1.0 / n[use]
    r2 = (c[use] / (n[use] * expected[use]) - 1.0) ** 2
    cut = np.quantile(r2 / (x + 1e-3), 0.98)
    inside = r2 / (x + 1e-3) <= cut
    x, r2 = x[inside], r2[inside]
    a, b = float(np.mean(r2 / x) * 0.5), 0.0
    for _ in range(3):  # weighted least squares, the 2 x 2 normal equations solved by hand
        weight = 1.0 / np.maximum(a * x + b, 1e-12) ** 2
        sxx, sx, s1 = np.dot(weight, x * x), np.dot(weight, x), weight.sum()
        sxy, sy = np.dot(weight, x * r2), np.dot(weight, r2)
        det = sxx * s1 - sx * sx
        if det <= 0:
            break
        a = max(float((sxy * s1 - sx * sy) / det), 1e-6)
        b = max(float((sxx * sy - sx * sxy) / det), 0.0)
    # the trimmed tail took 2% of the largest squares away: add back their share of the variance
    return a * 1.1, b * 1.1 + 1e-5


def episodes(scores: CostScores, detector: CostDetector, direction: str = "up"
             ) -> list[tuple[int, int]]:
    """(first, last) hot hour of each episode. A hot hour joins the previous episode when it is
    within `merge_gap` hours of it or its window reaches back into it: a day-long window stays
    hot for a day after a spike it saw, and that is the same incident."""
    sign = 1.0 if direction == "up" else -1.0
    hot = np.flatnonzero(np.nan_to_num(sign * scores.score, nan=0.0) >= detector.threshold)
    runs: list[list[int]] = []
    for t in hot:
        reach = max(detector.merge_gap, int(scores.scale[t]))
        if runs and t - runs[-1][1] <= reach:
            runs[-1][1] = int(t)
        else:
            runs.append([int(t), int(t)])
    return [(first, last) for first, last in runs]


def _short_runs(flagged: np.ndarray, longest: int, gap: int) -> np.ndarray:
    """The flagged hours in runs (gaps up to `gap` hours joined) shorter than `longest`: an
    incident to keep out of a profile, unlike a long run, which is a pattern or a new level."""
    out = np.zeros(len(flagged), dtype=bool)
    hot = np.flatnonzero(flagged)
    if not len(hot):
        return out
    breaks = np.flatnonzero(np.diff(hot) > gap + 1)
    for first, last in zip(np.r_[0, breaks + 1], np.r_[breaks, len(hot) - 1], strict=True):
        if hot[last] - hot[first] + 1 < longest:
            out[hot[first]:hot[last] + 1] = flagged[hot[first]:hot[last] + 1]
    return out


def _day_variance(n: np.ndarray, c: np.ndarray, expected: np.ndarray, cv2: float, extra: float,
                  floor: float) -> float:
    """How far whole days stray from their expectation beyond sampling noise (a robust
    variance), at least `floor` squared: the level is an estimate, and prices drift."""
    days = len(n) // DAY
    if days < 3:
        return floor ** 2
    shape = (days, DAY)
    tail = slice(len(n) - days * DAY, len(n))
    nn, cc = n[tail].reshape(shape), c[tail].reshape(shape)
    ee = np.nan_to_num(n[tail] * expected[tail]).reshape(shape)
    judged = ee.sum(axis=1) > 0
    if judged.sum() < 3:
        return floor ** 2
    ratio = cc.sum(axis=1)[judged] / ee.sum(axis=1)[judged] - 1.0
    sampling = np.median(cv2 / np.maximum(nn.sum(axis=1)[judged], 1) + extra / DAY)
    spread = (1.4826 * np.median(np.abs(ratio - np.median(ratio)))) ** 2 - sampling
    return float(max(spread, floor ** 2))


def _scores(n: np.ndarray, c: np.ndarray, expected: np.ndarray, base_var: np.ndarray, cv2: float,
            extra: float, start: int, end: int, scales: tuple[int, ...], min_calls: float,
            regime_start: int) -> tuple[np.ndarray, np.ndarray]:
    """Each hour's strongest signed score over the trailing windows, and that window's length.
    A window is judged when one baseline (the one in force since `regime_start`) covers all of
    it and it holds `min_calls` successes; its
    ratio of cost to expected cost is taken as lognormal with the model's variance (a sum of
    skewed per-call costs: heavier-tailed upwards than a normal law)."""
    best = np.full(end - start, np.nan)
    best_scale = np.zeros(end - start, dtype="int64")
    lo0 = max(start - max(scales), 0)  # no window reaches further back
    judged = np.isfinite(expected[lo0:end])
    nn, cc = np.where(judged, n[lo0:end], 0.0), np.where(judged, c[lo0:end], 0.0)
    zero = np.zeros(1)
    calls_upto = np.concatenate([zero, np.cumsum(nn)])
    cost_upto = np.concatenate([zero, np.cumsum(cc)])
    expected_upto = np.concatenate([zero, np.cumsum(np.where(judged, nn * expected[lo0:end],
                                                             0.0))])
    hours_upto = np.concatenate([zero, np.cumsum(judged & (nn > 0))])
    his = np.arange(start, end) + 1 - lo0
    for k in scales:
        lo = np.maximum(his - k, 0)
        calls = calls_upto[his] - calls_upto[lo]
        exps = expected_upto[his] - expected_upto[lo]
        busy = hours_upto[his] - hours_upto[lo]
        whole = judged[lo] & (his - k + lo0 >= regime_start) & (his - k >= 0)
        ok = whole & (calls >= min_calls) & (exps > 0)
        if not ok.any():
            continue
        ratio = (cost_upto[his] - cost_upto[lo])[ok] / exps[ok]
        var = cv2 / calls[ok] + extra / np.maximum(busy[ok], 1) + base_var[start:end][ok]
        spread2 = np.log1p(var)
        with np.errstate(divide="ignore"):
            z = np.full(end - start, np.nan)
            z[ok] = (np.log(ratio) + spread2 / 2) / np.sqrt(spread2)
        stronger = ok & ~(np.abs(z) <= np.abs(best))  # NaN in best: any score is stronger
        best = np.where(stronger, z, best)
        best_scale = np.where(stronger, k, best_scale)
    return best, best_scale


def _flag(flagged: np.ndarray, n: np.ndarray, c: np.ndarray, expected: np.ndarray,
          score: np.ndarray, scale_of: np.ndarray, start: int, end: int, threshold: float
          ) -> None:
    """Mark the hours behind a flagged window that moved the same way, so the profile fitted on
    later days leaves them out."""
    strong = np.flatnonzero(np.abs(np.nan_to_num(score[start:end])) >= threshold) + start
    for t in strong:
        z = score[t]
        window = slice(max(t - int(scale_of[t]) + 1, 0), t + 1)
        with np.errstate(invalid="ignore"):
            moved = (c[window] - n[window] * expected[window]) * np.sign(z) > 0
        flagged[window] |= moved
