"""The bake's sequential test, on simulated bakes with known truth: a version no worse than its
baseline is rolled back in at most alpha of bakes however often the test looks; a version that
fails a quarter of its executions, doubles its tail latency or its cost is rolled back within
tens of its executions."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from runtime.bake.evidence import (
    ALPHA,
    WARMUP,
    Arm,
    Thresholds,
    Verdict,
    describe,
    judge,
    likelihood_ratio,
    observation,
)

WEIGHT = 0.1


@dataclass(frozen=True)
class Version:
    error_ratio: float = 0.01
    latency_scale: float = 1.0  # durations are lognormal around 10 ms times this
    cost_scale: float = 1.0

    def run(self, rng: random.Random) -> tuple[bool, float, float]:
        ok = rng.random() >= self.error_ratio
        latency = 0.010 * self.latency_scale * rng.lognormvariate(0, 0.4)
        cost = 1e-5 * self.cost_scale * rng.gammavariate(8, 1 / 8)
        return ok, latency, cost


def bake(candidate: Version, baseline: Version, seed: int, look_every: int = 10,
         max_executions: int = 20_000) -> tuple[Verdict, Arm]:
    """Route executions at random as the canary does, set thresholds from the baseline's first
    WARMUP executions, look every `look_every` executions until a decision."""
    rng = random.Random(seed)
    arms = {"candidate": Arm(), "baseline": Arm()}
    warm: tuple[list[float], list[float]] = ([], [])
    thresholds: Thresholds | None = None
    verdict = judge(WEIGHT, arms["candidate"], arms["baseline"])
    for n in range(1, max_executions + 1):
        arm = "candidate" if rng.random() < WEIGHT else "baseline"
        ok, latency, cost = (candidate if arm == "candidate" else baseline).run(rng)
        arms[arm] = arms[arm].plus(observation(ok, latency, cost, thresholds))
        if arm == "baseline" and thresholds is None:
            warm[0].append(latency)
            warm[1].append(cost)
            if len(warm[0]) == WARMUP:
                thresholds = Thresholds.from_samples(*warm)
        if n % look_every == 0:
            verdict = judge(WEIGHT, arms["candidate"], arms["baseline"])
            if verdict.decision != "continue":
                break
    return verdict, arms["candidate"]


def test_a_version_no_worse_than_its_baseline_is_promoted_and_rarely_rolled_back() -> None:
    same = Version()
    verdicts = [bake(same, same, seed)[0] for seed in range(100)]
    rolled_back = [v for v in verdicts if v.decision == "roll_back"]
    assert all(v.decision in ("promote", "roll_back") for v in verdicts)
    # at most alpha of bakes in expectation (1%: 1 of 100); 2 would still be likely at 1%
    assert len(rolled_back) <= 2, [v.summary for v in rolled_back]


def test_a_better_version_is_promoted() -> None:
    better = Version(error_ratio=0.001, latency_scale=0.7, cost_scale=0.8)
    assert all(bake(better, Version(), seed)[0].decision == "promote" for seed in range(30))


@pytest.mark.parametrize(("candidate", "event", "within"), [
    pytest.param(Version(error_ratio=0.25), "errors", 40, id="a quarter of executions failing"),
    pytest.param(Version(latency_scale=2.0), "slow_p99", 60, id="twice as slow"),
    pytest.param(Version(cost_scale=2.0), "costly", 40, id="twice as costly"),
])
def test_a_regression_is_rolled_back_within_tens_of_its_executions(
        candidate: Version, event: str, within: int) -> None:
    for seed in range(20):
        verdict, arm = bake(candidate, Version(error_ratio=0.001), seed)
        assert verdict.decision == "roll_back", (seed, verdict.summary)
        assert arm.executions <= within, (seed, arm.executions, verdict.summary)
    assert verdict.event in (event, "slow_p95", "slow_p99") if event != "errors" else \
        verdict.event == "errors"


def test_the_evidence_grows_with_candidate_events_and_falls_with_baseline_events() -> None:
    assert likelihood_ratio(WEIGHT, 0, 0) == pytest.approx(1.0)
    assert likelihood_ratio(WEIGHT, 5, 0) > 4 / ALPHA  # five errors, all on a 10% canary
    assert likelihood_ratio(WEIGHT, 5, 45) < 1.0  # one in ten: exactly the canary's share
    assert likelihood_ratio(WEIGHT, 1, 0) < likelihood_ratio(WEIGHT, 2, 0)


def test_nothing_is_promoted_before_enough_candidate_executions_were_judged() -> None:
    few = Arm(executions=150, judged=150)
    assert judge(WEIGHT, few, Arm(executions=1350, judged=1350)).decision == "continue"
    assert judge(WEIGHT, few, Arm(executions=1350, judged=1350),
                 min_executions=150).decision == "promote"


def test_the_summary_reads_like_the_timeline() -> None:
    candidate = Arm(executions=300, errors=12)
    baseline = Arm(executions=2700, errors=3)
    assert describe("errors", candidate, baseline) == \
        "error ratio 4.0% against 0.1% after 300 executions"
    slow = describe("slow_p99", Arm(executions=40, judged=40, slow_p99=10),
                    Arm(executions=400, judged=400, slow_p99=4))
    assert slow == ("25.0% executions slower than the baseline's p99 against 1.0%, after 40 "
                    "executions")
