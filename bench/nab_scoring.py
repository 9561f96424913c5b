"""The Numenta Anomaly Benchmark's scoring rules (NAB v1.1, as its whitepaper and README state
them), written for this project and held to reference scores in tests/fixtures/nab.

The rules, per data file of n rows:
- the first min(floor(0.15 n), 0.15 * 5000) rows are probationary and never scored;
- a row is a detection when its anomaly score is at least the threshold;
- each labelled window [L, R] (row positions, width W = R - L + 1) earns, for its earliest
  detection at row i, A_tp * S(-(R - i + 1) / W) / S(-1), or costs A_fn when nothing in it is
  detected; only windows with at least one scored row count;
- each detection outside every window costs A_fp * S((i - R') / (W' - 1)) after a window
  [L', R'] of width W', and A_fp * -1 before the first window;
- S(x) = 2 / (1 + exp(5 x)) - 1, and S(x) = -1 for x > 3;
- one threshold for the whole corpus; "optimised" means the threshold with the highest raw score;
- normalised = 100 (raw + A_fn N) / (A_tp N + A_fn N) over the N counted windows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PROFILES: dict[str, dict[str, float]] = {  # NAB config/profiles.json
    "standard": {"tp": 1.0, "fn": 1.0, "fp": 0.11},
    "reward_low_FP_rate": {"tp": 1.0, "fn": 1.0, "fp": 0.22},
    "reward_low_FN_rate": {"tp": 1.0, "fn": 2.0, "fp": 0.11},
}
PROBATION_SHARE = 0.15
PROBATION_CAP_ROWS = 5000  # the probation is the share of at most this many rows


def sigmoid_weight(x: np.ndarray) -> np.ndarray:
    """NAB's S(x): +1 far before a window's end, 0 at one width past, -1 beyond three widths."""
    value = 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0
    return np.where(x > 3.0, -1.0, value)


EARLIEST = float(sigmoid_weight(np.array(-1.0)))  # S(-1): a detection at a window's first row


@dataclass(frozen=True)
class ScoredFile:
    """The scorable rows of one file: their anomaly scores, S() weights and window ids
    (-1 outside windows; ids unique within the file)."""

    name: str
    scores: np.ndarray
    weights: np.ndarray
    windows: np.ndarray

    @property
    def window_ids(self) -> np.ndarray:
        return np.unique(self.windows[self.windows >= 0])


def probation_rows(n: int) -> float:
    return min(math.floor(PROBATION_SHARE * n), PROBATION_SHARE * PROBATION_CAP_ROWS)


def score_file(name: str, timestamps: pd.Series, anomaly_scores: np.ndarray,
               windows: list[tuple[pd.Timestamp, pd.Timestamp]]) -> ScoredFile:
    stamps = pd.DatetimeIndex(pd.to_datetime(timestamps))
    n = len(stamps)
    if len(anomaly_scores) != n:
        raise ValueError(f"{name}: {len(anomaly_scores)} scores for {n} rows")
    spans = []
    for start, end in windows:
        # a bound names a row by its timestamp; some files repeat an hour (clock changes),
        # none at a bound: take the first row with that time
        left, right = (np.flatnonzero(stamps == bound) for bound in (start, end))
        if len(left) == 0 or len(right) == 0:
            raise ValueError(f"{name}: window {start} .. {end} is not on the file's rows")
        spans.append((int(left[0]), int(right[0])))
    spans.sort()
    rows = np.arange(n)
    weights = np.full(n, -1.0)  # before the first window
    window_of = np.full(n, -1)
    for k, (left, right) in enumerate(spans):
        width = right - left + 1
        inside = rows[left:right + 1]
        weights[inside] = sigmoid_weight(-(right - inside + 1) / width)
        window_of[inside] = k
        following = spans[k + 1][0] if k + 1 < len(spans) else n
        after = rows[right + 1:following]
        weights[after] = sigmoid_weight((after - right) / (width - 1))
    kept = rows >= probation_rows(n)
    return ScoredFile(name, np.asarray(anomaly_scores, dtype=float)[kept], weights[kept],
                      window_of[kept])


def _row_values(file: ScoredFile, profile: Mapping[str, float]) -> np.ndarray:
    """What each row is worth when it is a detection (before the earliest-only rule)."""
    return np.where(file.windows >= 0, file.weights * profile["tp"] / EARLIEST,
                    file.weights * profile["fp"])


@dataclass(frozen=True)
class Outcome:
    threshold: float
    raw: float
    normalized: float
    detected_windows: int
    missed_windows: int
    fp_rows: int
    n_windows: int


def normalize(raw: float, n_windows: int, profile: Mapping[str, float]) -> float:
    floor = -profile["fn"] * n_windows
    return 100.0 * (raw - floor) / (profile["tp"] * n_windows - floor)


def score_at(files: list[ScoredFile], threshold: float,
             profile: Mapping[str, float]) -> Outcome:
    raw, detected, missed, fp_rows, counted = 0.0, 0, 0, 0, 0
    for file in files:
        values = _row_values(file, profile)
        hit = file.scores >= threshold
        outside = hit & (file.windows < 0)
        raw += float(values[outside].sum())
        fp_rows += int(outside.sum())
        for window in file.window_ids:
            counted += 1
            in_window = hit & (file.windows == window)
            if in_window.any():
                # rows are in time order and S() falls through a window: the earliest wins
                raw += float(values[np.flatnonzero(in_window)[0]])
                detected += 1
            else:
                raw -= profile["fn"]
                missed += 1
    return Outcome(threshold, raw, normalize(raw, counted, profile), detected, missed, fp_rows,
                   counted)


def best_threshold(files: list[ScoredFile], profile: Mapping[str, float]) -> float:
    """The threshold among the corpus' distinct scores with the highest raw score (the highest
    such threshold on a tie; above every score when no detection helps).

    Lowering the threshold past a score adds that row: an out-of-window row adds its cost; a
    window row adds the rise it gives its window's best value (windows start at -A_fn). The
    raw score at each threshold is then a cumulative sum over rows by descending score."""
    scores, gains = [], []
    for file in files:
        values = _row_values(file, profile)
        outside = file.windows < 0
        scores.append(file.scores[outside])
        gains.append(values[outside])
        for window in file.window_ids:
            members = np.flatnonzero(file.windows == window)
            order = members[np.argsort(-file.scores[members], kind="stable")]
            best = np.maximum.accumulate(np.maximum(values[order], -profile["fn"]))
            scores.append(file.scores[order])
            gains.append(np.diff(best, prepend=-profile["fn"]))
    all_scores = np.concatenate(scores)
    all_gains = np.concatenate(gains)
    order = np.argsort(-all_scores, kind="stable")
    ordered = all_scores[order]
    totals = np.cumsum(all_gains[order])
    last_of_group = np.r_[ordered[1:] != ordered[:-1], True]
    candidates, values = ordered[last_of_group], totals[last_of_group]
    if len(values) == 0 or values.max() <= 0:
        return float(np.inf)
    return float(candidates[int(np.argmax(values))])


def load_windows(path: Path) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    raw = json.loads(path.read_text())
    return {name: [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in spans]
            for name, spans in raw.items()}


def score_corpus(data: Path, windows: Mapping[str, list[tuple[pd.Timestamp, pd.Timestamp]]],
                 detections: Mapping[str, np.ndarray], profile_name: str,
                 threshold: float | None = None) -> Outcome:
    """Score a detector's output (file name relative to `data` -> one score per row) under
    one profile, at `threshold` or at the optimised one."""
    profile = PROFILES[profile_name]
    files = []
    for name in sorted(detections):
        frame = pd.read_csv(data / name, usecols=["timestamp"])
        files.append(score_file(name, frame["timestamp"], detections[name],
                                windows.get(name, [])))
    chosen = best_threshold(files, profile) if threshold is None else threshold
    return score_at(files, chosen, profile)
