"""Power of the latency regression test: how often a real tail regression is found, and how
often an unchanged plugin is called regressed, over many trials with varied latency laws.

Each trial draws a latency law (lognormal, gamma, Weibull, or a lognormal body with a Pareto
tail; the median anywhere from 5 ms to 2 s, so the tail falls anywhere on the bucket grid), then
two windows of `n` executions each: the previous from the law, the current
- `unchanged`: from the same law (a found regression is a false alarm);
- `5% 3x` (and 2x, 5x): 5% of executions, taken at random, that much slower (the median does
  not move);
- `slowest 5% 3x` (and 1%): executions beyond the law's p95 (p99) 3x slower.
The executions are counted into histogram buckets, and the evaluator's test (`evaluator.latency
.compare`, p95 and p99, a regression on either) judges them: with the runtime's buckets, with
buckets twice as fine (`1-1.5-2-3-5-7` per decade), and the previous decision rule (a
permutation test on the quantile ratio) on the runtime's buckets, in the same run.

    .venv/bin/python bench/tail_bench.py [--trials 200] [--sizes 250,500,1000,2000,4000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector import schema as s
from evaluator.latency import QUANTILES, compare

RUNTIME = np.asarray(s.BUCKET_BOUNDS, dtype="float64")
FINE = np.asarray([*sorted({round(m * 10.0 ** e, 6) for e in range(-3, 2)
                            for m in (1, 1.5, 2, 3, 5, 7) if m * 10.0 ** e <= 70}),
                   float("inf")])
# (name, share of executions, factor, slowest: the share is the slowest ones, else at random)
SCENARIOS = (("unchanged", 0.0, 1.0, False), ("5% 2x", 0.05, 2.0, False),
             ("5% 3x", 0.05, 3.0, False), ("5% 5x", 0.05, 5.0, False),
             ("slowest 5% 3x", 0.05, 3.0, True), ("slowest 1% 3x", 0.01, 3.0, True))

Law = Callable[[np.random.Generator, int], np.ndarray]


def law(rng: np.random.Generator) -> tuple[str, Law]:
    median = float(np.exp(rng.uniform(np.log(0.005), np.log(2.0))))
    kind = int(rng.integers(4))
    if kind == 0:
        sigma = rng.uniform(0.3, 1.0)
        return f"lognormal({sigma:.2f})", lambda g, n: median * np.exp(sigma * g.normal(size=n))
    if kind == 1:
        shape = rng.uniform(1.5, 6.0)
        return f"gamma({shape:.1f})", lambda g, n: g.gamma(shape, 1.0, n) * median / shape
    if kind == 2:
        k = rng.uniform(0.8, 2.5)
        return f"weibull({k:.1f})", lambda g, n: median * g.weibull(k, n)
    alpha = rng.uniform(2.0, 4.0)

    def pareto_tail(g: np.random.Generator, n: int) -> np.ndarray:
        body = median * np.exp(0.4 * g.normal(size=n))
        tail = g.random(n) < 0.1
        body[tail] = median * 1.7 * (1 + g.pareto(alpha, int(tail.sum())))
        return body
    return f"lognormal+pareto({alpha:.1f})", pareto_tail


def counts(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    index = np.searchsorted(bounds, values, side="left")  # value <= bound: Prometheus' le
    return np.bincount(index, minlength=len(bounds)).astype("float64")


METHODS = (("runtime buckets", RUNTIME, 0), ("fine buckets", FINE, 0),
           ("before: permutation", RUNTIME, 400))


def trial(rng: np.random.Generator, share: float, factor: float, slowest: bool, n: int,
          methods: tuple[tuple[str, np.ndarray, int], ...] = METHODS) -> dict[str, bool]:
    """One trial: a law, two windows, and whether each method reports a regression."""
    _, draw = law(rng)
    previous = draw(rng, n)
    current = draw(rng, n)
    if slowest:
        cut = np.quantile(draw(rng, 200_000), 1 - share)
        current = np.where(current > cut, current * factor, current)
    elif share:
        current = np.where(rng.random(n) < share, current * factor, current)
    found = {}
    for name, bounds, rounds in methods:
        now, before = counts(current, bounds), counts(previous, bounds)
        results = [compare(now, before, q=q, bounds=bounds, rounds=rounds, min_executions=1)
                   for q in QUANTILES]
        if rounds:  # the previous rule: the permutation p-value decides
            found[name] = any(r.ratio is not None and r.ratio >= 1.2 and r.p_value is not None
                              and r.p_value < 0.01 for r in results)
        else:
            found[name] = any(r.status == "regression" for r in results)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--sizes", default="250,500,1000,2000,4000")
    options = parser.parse_args()
    sizes = [int(x) for x in options.sizes.split(",")]
    rng = np.random.default_rng(20261130)
    started = time.perf_counter()
    print(f"{options.trials} trials per cell; share of trials reported as a regression "
          "(p95 or p99, alpha 0.01, ratio >= 1.2)")
    methods = tuple(name for name, _, _ in METHODS)
    print(f"{'scenario':<15} {'executions':>10} " + " ".join(f"{m:>20}" for m in methods))
    for scenario, share, factor, slowest in SCENARIOS:
        for n in sizes:
            hits = dict.fromkeys(methods, 0)
            for _ in range(options.trials):
                for name, found in trial(rng, share, factor, slowest, n).items():
                    hits[name] += found
            print(f"{scenario:<15} {n:>10} " + " ".join(
                f"{hits[m] / options.trials:>20.2f}" for m in methods), flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
