"""The evaluator's anomaly detector on NAB (Numenta Anomaly Benchmark), scored by the project's
NAB scorer (`bench/nab_scoring.py`) on the subset in tests/fixtures/nab: realAWSCloudwatch,
realKnownCause and realTweets, 34 files, 82 labelled windows.

The detector runs causally, row by row in effect (a score at t uses nothing after t), with the
evaluator's seasonal baseline (`evaluator.anomaly.Detector`: the median of the same phase over
the previous 7 days) and its novelty score: the residual over the largest residual of the
previous two weeks. Settings follow each file's sampling interval and nothing else (no per-file
tuning): a season of one day, a two-week look-back, an episode of one day. An episode reports
once: its first row (a residual larger than any in two weeks) gets a score that grows with how
far it beats the record, the rows after it for a day get 0 (NAB counts every detection row
outside a window as a false positive, and Pluginops merges an episode's repeated alerts the same
way). `--z-score` runs the robust z-score the evaluator used before, for comparison.

    python bench/nab_bench.py [--nab tests/fixtures/nab]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluator.anomaly import Detector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nab_scoring import PROFILES, Outcome, load_windows, score_corpus

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nab"

DETECTOR = "pluginops"
FOLDERS = ("realAWSCloudwatch", "realKnownCause", "realTweets")


LOOKBACK_DAYS = 14


def rows_per_day(timestamps: pd.Series) -> int:
    return max(round(86400 / float(timestamps.diff().dt.total_seconds().median())), 4)


def detector_for(timestamps: pd.Series, z_score: bool = False) -> Detector:
    day = rows_per_day(timestamps)
    if z_score:  # the previous NAB settings
        return Detector(season=day, seasons=7, window=7 * day, min_history=max(day // 4, 12),
                        threshold=3.0, relative_floor=0.0, merge_gap=2 * day)
    return Detector(season=day, seasons=7, window=7 * day, min_history=max(day // 2, 12),
                    threshold=1.0, relative_floor=0.0, merge_gap=day)


def scores(values: np.ndarray, detector: Detector, lookback: int | None = None) -> np.ndarray:
    """One score per row in [0, 1), on the first row of an episode only; an episode lasts
    `merge_gap` rows from its first (repeated alerts merged). With `lookback`, the novelty over
    that many rows (threshold 1: a new record); without, |z|."""
    if lookback is None:
        strength = np.nan_to_num(np.abs(detector.score(values)[2]))
    else:
        strength = np.nan_to_num(detector.novelty(values, lookback))
    out = np.zeros(len(values))
    last_start = -10**9
    for index in np.flatnonzero(strength >= detector.threshold):
        if index - last_start > detector.merge_gap:
            out[index] = 1 - detector.threshold / (strength[index] + detector.threshold)
            last_start = index
    return out


def detections(nab: Path, z_score: bool = False) -> dict[str, np.ndarray]:
    """The detector's score for every row of every file, keyed by the file's path under data/."""
    found = {}
    for folder in FOLDERS:
        for csv in sorted((nab / "data" / folder).glob("*.csv")):
            frame = pd.read_csv(csv, parse_dates=["timestamp"])
            lookback = None if z_score else LOOKBACK_DAYS * rows_per_day(frame["timestamp"])
            found[f"{folder}/{csv.name}"] = scores(frame["value"].to_numpy(dtype=float),
                                                   detector_for(frame["timestamp"], z_score),
                                                   lookback)
    return found


def run(nab: Path, z_score: bool = False) -> dict[str, Outcome]:
    """Each NAB profile's outcome at its optimised threshold (NAB's own protocol)."""
    found = detections(nab, z_score)
    windows = load_windows(nab / "labels" / "combined_windows.json")
    return {profile: score_corpus(nab / "data", windows, found, profile) for profile in PROFILES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab", type=Path, default=FIXTURE)
    parser.add_argument("--z-score", action="store_true",
                        help="the robust z-score the evaluator's NAB run used before")
    args = parser.parse_args()
    for profile, outcome in run(args.nab, args.z_score).items():
        print(f"{DETECTOR:<20} {profile:<20} {outcome.normalized:6.2f}  "
              f"(threshold {outcome.threshold:.4f}, {outcome.detected_windows}/"
              f"{outcome.n_windows} windows, {outcome.fp_rows} false-positive rows)")
    reference = json.loads((args.nab / "subset_reference_scores.json").read_text())
    print("\nNAB's published detectors on the same subset (re-optimised threshold, standard):")
    for name, entry in sorted(reference.items()):
        if isinstance(entry, dict) and "standard" in entry:
            print(f"  {name:<20} {entry['standard']['subset_reoptimized']:6.2f}")


if __name__ == "__main__":
    main()
