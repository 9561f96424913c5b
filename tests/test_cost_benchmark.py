"""The cost detector on labelled fleets it was not tuned on (`bench/cost_fleet.py`: quiet to busy
plugins, daily and weekly cycles, growth, launches, peak pricing, five anomaly shapes): at least
0.9 precision and 0.9 recall, every shape found, a level shift reported once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import cost_bench
import cost_fleet as cf

HELD_OUT = cost_bench.HELD_OUT[:5]


Judged = list[tuple[list[cf.Plugin], cost_bench.Found]]


@pytest.fixture(scope="module")
def judged() -> Judged:
    assert not set(HELD_OUT) & set(cost_bench.TUNING)
    out = []
    for seed in HELD_OUT:
        plugins = cf.fleet(seed)
        out.append((plugins, cost_bench.detect(plugins)))
    return out


def test_precision_and_recall_on_held_out_fleets(judged: Judged) -> None:
    true = false = found = labels = 0
    shapes: dict[str, int] = {}
    for plugins, detected in judged:
        score = cf.score(plugins, detected.reports)
        true, false = true + score.true_reports, false + score.false_reports
        found, labels = found + score.found, labels + score.labels
        for shape, (hit, _) in score.by_shape.items():
            shapes[shape] = shapes.get(shape, 0) + hit
    assert labels >= 100  # enough to mean something
    assert true / (true + false) >= 0.9, (true, false)
    assert found / labels >= 0.9, (found, labels)
    assert all(shapes[shape] > 0 for shape in cf.SHAPES), shapes


def test_a_found_level_shift_is_one_report(judged: Judged) -> None:
    """Reported at its start, then the new normal: no report after it until the plugin's next
    labelled anomaly."""
    found = once = 0
    for plugins, detected in judged:
        for plugin in plugins:
            starts = sorted(label.start for label in plugin.labels)
            for label in plugin.labels:
                if label.shape != "level_shift":
                    continue
                until = min([s for s in starts if s > label.start], default=10**9)
                about = [r for r in detected.reports if r.plugin == plugin.name
                         and r.end >= label.start and r.start < until]
                found += bool(about)
                once += len(about) == 1
    assert found >= 10 and once / found >= 0.85, (once, found)


def test_the_previous_detector_fails_the_same_fleets(judged: Judged) -> None:
    """The benchmark can tell: three sigma on every plugin-hour is mostly false here."""
    true = false = 0
    for plugins, _ in judged:
        score = cf.score(plugins, cost_bench.previous_detector(plugins))
        true, false = true + score.true_reports, false + score.false_reports
    assert true / (true + false) < 0.7
