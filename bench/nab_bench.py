"""The evaluator's anomaly detector on NAB (Numenta Anomaly Benchmark), scored by the NAB scorer
in ../shared/fixtures/nab (the fixture's 3-folder subset: realAWSCloudwatch, realKnownCause,
realTweets; 34 files, 82 labelled windows).

The detector runs causally, row by row in effect (a score at t uses nothing after t), with the
same code the evaluator uses for cost per success; its NAB settings follow each file's sampling
interval: a season of one day, a 7-day window for the robust scale, no relative floor (NAB's
series are not prices), and an episode of two days. An anomaly episode reports once: its
first row gets a score, the rows after it until the episode ends get 0 (NAB counts every
detection row outside a window as a false positive, and Pluginops merges an episode's repeated
alerts the same way).

    python bench/nab_bench.py [--nab ../shared/fixtures/nab] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluator.anomaly import Detector

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


def run(nab: Path, out: Path) -> dict[str, float]:
    for folder in FOLDERS:
        (out / folder).mkdir(parents=True, exist_ok=True)
        for csv in sorted((nab / "data" / folder).glob("*.csv")):
            frame = pd.read_csv(csv, parse_dates=["timestamp"])
            frame["anomaly_score"] = scores(frame["value"].to_numpy(dtype=float),
                                            detector_for(frame["timestamp"]))
            frame.to_csv(out / folder / f"{DETECTOR}_{csv.name}", index=False)
    results = {}
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        done = subprocess.run(
            [sys.executable, str(nab / "nab_score.py"), "--data", str(nab / "data"),
             "--windows", str(nab / "labels" / "combined_windows.json"), "--results", str(out),
             "--detector", DETECTOR, "--profile", profile, "--optimize"],
            capture_output=True, text=True, check=True)
        results[profile] = done.stdout
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nab", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "fixtures"
                        / "nab")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for profile, text in run(args.nab, out).items():
            print(f"== {profile}\n{text.strip()}")
    reference = json.loads((args.nab / "subset_reference_scores.json").read_text())
    print("\nreference (subset, re-optimised threshold, standard profile):")
    for name, entry in sorted(reference.items()):
        if isinstance(entry, dict) and "standard" in entry:
            print(f"  {name:<20} {entry['standard']['subset_reoptimized']:6.2f}")


if __name__ == "__main__":
    main()
