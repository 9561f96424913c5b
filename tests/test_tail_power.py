"""The latency regression test finds tail regressions and leaves unchanged plugins alone, over
100 trials per case with varied latency laws (lognormal, gamma, Weibull, Pareto-tailed) placed
anywhere on the runtime's bucket grid (`bench/tail_bench.py` prints the whole power curve)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import tail_bench

TRIALS = 100
RUNTIME_ONLY = (("runtime buckets", tail_bench.RUNTIME, 0),)


def found_share(seed: int, share: float, factor: float, slowest: bool, n: int) -> float:
    rng = np.random.default_rng(seed)
    return sum(tail_bench.trial(rng, share, factor, slowest, n, RUNTIME_ONLY)["runtime buckets"]
               for _ in range(TRIALS)) / TRIALS


def test_five_percent_of_calls_three_times_slower_is_found_at_2000_executions() -> None:
    assert found_share(1, 0.05, 3.0, False, 2000) >= 0.8


def test_the_slowest_five_percent_three_times_slower_is_found_at_500_executions() -> None:
    assert found_share(2, 0.05, 3.0, True, 500) >= 0.9


@pytest.mark.parametrize("n", [500, 2000])
def test_an_unchanged_plugin_is_rarely_called_regressed(n: int) -> None:
    assert found_share(3 + n, 0.0, 1.0, False, n) <= 0.05
