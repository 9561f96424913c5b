"""The evaluator's anomaly detector on NAB (Numenta Anomaly Benchmark), scored by the project's
NAB scorer (`bench/nab_scoring.py`) on the subset in tests/fixtures/nab: realAWSCloudwatch,
realKnownCause and realTweets, 34 files, 82 labelled windows.

The detector runs causally, row by row in effect (a score at t uses nothing after t), with the
same code the evaluator uses for cost per success; its NAB settings follow each file's sampling
interval: a season of one day, a 7-day window for the robust scale, no relative floor (NAB's
series are not prices), and an episode of two days. An anomaly episode reports once: its
first row gets a score, the rows after it until the episode ends get 0 (NAB counts every
detection row outside a window as a false positive, and Pluginops merges an episode's repeated
alerts the same way).

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


def detector_for(timestamps: pd.Series) -> Detector:
    step = float(timestamps.diff().dt.total_seconds().median())
    day = max(round(86400 / step), 4)
    return Detector(season=day, seasons=7, window=7 * day, min_history=max(day // 4, 12),
                    threshold=3.0, relative_floor=0.0, merge_gap=2 * day)


def scores(values: np.ndarray, detector: Detector) -> np.ndarray:
    """One score per row in [0, 1): |z| mapped monotonically, on the first row of an episode
    only; an episode lasts `merge_gap` rows from its first (repeated alerts merged)."""
    _, _, z = detector.score(values)
    z = np.nan_to_num(np.abs(z))
    out = np.zeros(len(values))
    last_start = -10**9
    for index in np.flatnonzero(z >= detector.threshold):
        if index - last_start > detector.merge_gap:
            out[index] = 1 - detector.threshold / (z[index] + detector.threshold)
            last_start = index
    return out


def detections(nab: Path) -> dict[str, np.ndarray]:
    """The detector's score for every row of every file, keyed by the file's path under data/."""
    found = {}
    for folder in FOLDERS:
        for csv in sorted((nab / "data" / folder).glob("*.csv")):
            frame = pd.read_csv(csv, parse_dates=["timestamp"])
            found[f"{folder}/{csv.name}"] = scores(frame["value"].to_numpy(dtype=float),
                                                   detector_for(frame["timestamp"]))
    return found


def run(nab: Path) -> dict[str, Outcome]:
    """Each NAB profile's outcome at its optimised threshold (NAB's own protocol)."""
    found = detections(nab)
    windows = load_windows(nab / "labels" / "combined_windows.json")
    return {profile: score_corpus(nab / "data", windows, found, profile) for profile in PROFILES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab", type=Path, default=FIXTURE)
    args = parser.parse_args()
    for profile, outcome in run(args.nab).items():
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
