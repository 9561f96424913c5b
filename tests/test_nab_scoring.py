"""The project's NAB scorer follows NAB's published scoring rules: hand-computed cases for each
rule, and the reference scores shipped with the fixture for three detectors on the whole subset."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
NAB = REPO / "tests" / "fixtures" / "nab"
sys.path.insert(0, str(REPO / "bench"))

from nab_scoring import (  # noqa: E402
    PROFILES,
    load_windows,
    probation_rows,
    score_at,
    score_corpus,
    score_file,
)

STANDARD = PROFILES["standard"]
STAMPS = pd.Series(pd.date_range("2024-01-01", periods=100, freq="5min"))
WINDOW = [(STAMPS[60], STAMPS[69])]  # rows 60..69, width 10; probation is rows 0..14


def s(x: float) -> float:
    """NAB's sigmoid, written out by hand for the expected values."""
    return 2 / (1 + math.exp(5 * x)) - 1


def raw(detected_rows: list[int], threshold: float = 0.5) -> float:
    scores = np.zeros(100)
    scores[detected_rows] = 1.0
    return score_at([score_file("t", STAMPS, scores, WINDOW)], threshold, STANDARD).raw


@pytest.mark.parametrize(("rows", "expected"), [
    pytest.param([], -1.0, id="a missed window costs A_fn"),
    pytest.param([60], 1.0, id="a detection on a window's first row earns A_tp"),
    pytest.param([60, 61, 65], 1.0, id="only a window's earliest detection counts"),
    pytest.param([69], s(-1 / 10) / s(-1), id="a detection on a window's last row earns little"),
    pytest.param([20], -1.0 - 0.11, id="a false positive before any window costs A_fp"),
    pytest.param([5], -1.0, id="probationary rows are never scored"),
    pytest.param([71], -1.0 + 0.11 * s(2 / 9), id="a false positive just after a window costs "
                 "less than A_fp"),
    pytest.param([60, 99], 1.0 - 0.11, id="beyond three widths past a window the cost is "
                 "A_fp again"),
])
def test_each_scoring_rule(rows: list[int], expected: float) -> None:
    assert raw(rows) == pytest.approx(expected, abs=1e-12)


def test_the_probation_is_fifteen_percent_capped_at_750_rows() -> None:
    assert probation_rows(100) == 15
    assert probation_rows(4000) == 600
    assert probation_rows(20_000) == 750


def test_a_window_bound_off_the_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="not on the file's rows"):
        score_file("t", STAMPS, np.zeros(100), [(STAMPS[10] + pd.Timedelta("1min"), STAMPS[20])])


def test_the_optimised_threshold_is_the_best_of_the_distinct_scores(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"timestamp": STAMPS, "value": 0.0}).to_csv(data / "f.csv", index=False)
    scores = np.zeros(100)
    scores[[60, 30]] = [0.9, 0.8]  # the window's row scores above the false positive's
    outcome = score_corpus(data, {"f.csv": WINDOW}, {"f.csv": scores}, "standard")
    assert outcome.threshold == 0.9
    assert outcome.raw == pytest.approx(1.0)
    assert (outcome.detected_windows, outcome.fp_rows) == (1, 0)
    assert outcome.normalized == pytest.approx(100.0)


def _random(values: np.ndarray, index: int) -> np.ndarray:
    return np.random.default_rng(20261130 + index).random(len(values))


def _step_size(values: np.ndarray, index: int) -> np.ndarray:
    step = np.abs(np.diff(values, prepend=values[0]))
    return step / step.max() if step.max() > 0 else step


def _window_openings(name: str, frame: pd.DataFrame,
                     windows: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]
                     ) -> np.ndarray:
    stamps = pd.to_datetime(frame["timestamp"])
    rows = np.arange(len(frame))
    scores = np.zeros(len(frame))
    for start, end in windows.get(name, []):
        inside = np.flatnonzero((stamps >= start) & (stamps <= end)
                                & (rows >= probation_rows(len(frame))))
        if len(inside):
            scores[inside[0]] = 1.0
    return scores


DETECTORS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "random_uniform_seed_20261130_plus_file_index": _random,
    "step_size_over_file_max_step": _step_size,
}


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, dict[str, float]]]:
    loaded: dict[str, dict[str, dict[str, float]]] = json.loads(
        (NAB / "scorer_reference.json").read_text())["detectors"]
    return loaded


@pytest.fixture(scope="module")
def corpus() -> dict[str, pd.DataFrame]:
    files = sorted((NAB / "data").glob("*/*.csv"))
    return {str(path.relative_to(NAB / "data")): pd.read_csv(path) for path in files}


@pytest.mark.parametrize("detector", [*DETECTORS, "window_openings"])
@pytest.mark.parametrize("profile", list(PROFILES))
def test_scores_equal_the_fixtures_reference_scores(
        detector: str, profile: str, reference: dict[str, dict[str, dict[str, float]]],
        corpus: dict[str, pd.DataFrame]) -> None:
    windows = load_windows(NAB / "labels" / "combined_windows.json")
    if detector == "window_openings":
        found = {name: _window_openings(name, frame, windows) for name, frame in corpus.items()}
    else:
        found = {name: DETECTORS[detector](frame["value"].to_numpy(dtype=float), index)
                 for index, (name, frame) in enumerate(corpus.items())}
    expected = reference[detector][profile]
    outcome = score_corpus(NAB / "data", windows, found, profile)
    assert outcome.n_windows == 82
    assert (outcome.detected_windows, outcome.fp_rows) == (expected["detected_windows"],
                                                            expected["fp_rows"])
    assert outcome.normalized == pytest.approx(expected["normalized"], abs=1e-9)
    at_half = score_corpus(NAB / "data", windows, found, "standard", threshold=0.5)
    assert at_half.raw == pytest.approx(reference[detector]["standard_at_0.5"]["raw"], abs=1e-9)
