"""Is a canary version worse than the version it replaced? A sequential test on live executions
that may be looked at after every execution and stops as soon as the evidence is strong, with a
bounded chance of rolling back a version that is no worse.

Executions are routed at random: each goes to the candidate with probability `w` (the canary
weight), to the baseline otherwise. Take an event that can happen to any execution: an error, a
duration above the baseline's p95 or p99, a cost above the baseline's p90 (thresholds fixed from
the baseline's first executions of the bake, before any execution they judge). If the
candidate's rate of the event is `theta` times the baseline's, an event belongs to the candidate
with probability `p(theta) = w theta / (w theta + 1 - w)`, independently from event to event,
whatever the traffic, the baseline's own rate, or how both move during the day (both arms see
the same traffic). Whether the candidate is worse is whether that coin lands on it more often
than `w`.

After `k` candidate and `m` baseline events, the likelihood ratio of `theta = t` against
`theta = 1`, `(p(t) / w)^k ((1 - p(t)) / (1 - w))^m`, is a nonnegative supermartingale while the
candidate is no worse (`theta <= 1`): by Ville's inequality it ever reaches `1 / a` with
probability at most `a`. The test averages it over several `t` (1.5x to 10x), which keeps the
guarantee and finds small and large regressions alike. Each of the four events gets `alpha / 4`:
a version no worse than its baseline is rolled back with probability at most `alpha`, however
long the bake lasts and however often it is looked at. Pure: counts in, a verdict out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ALTERNATIVES = (1.5, 2.0, 3.0, 5.0, 10.0)  # candidate rate / baseline rate, averaged over
ALPHA = 0.01  # the chance of rolling back a version that is no worse
WARMUP = 100  # baseline executions that set the latency and cost thresholds
MIN_EXECUTIONS = 200  # candidate executions judged on every event before a promotion
DEFAULT_WEIGHT = 0.1  # the canary's share of executions


@dataclass(frozen=True)
class Thresholds:
    """Fixed from the baseline's first WARMUP executions of the bake."""

    p95_s: float
    p99_s: float
    cost_usd: float  # the baseline's p90 cost per execution

    @staticmethod
    def from_samples(durations: list[float], costs: list[float]) -> Thresholds:
        return Thresholds(_quantile(durations, 0.95), _quantile(durations, 0.99),
                          _quantile(costs, 0.90))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Arm:
    """What one version did during the bake. `judged` executions came after the thresholds
    were set: the latency and cost events are counted among them only."""

    executions: int = 0
    errors: int = 0  # every outcome but success (error, timeout, denied)
    successes_cost_usd: float = 0.0
    judged: int = 0
    slow_p95: int = 0
    slow_p99: int = 0
    costly: int = 0

    def plus(self, other: Arm) -> Arm:
        return Arm(self.executions + other.executions, self.errors + other.errors,
                   self.successes_cost_usd + other.successes_cost_usd,
                   self.judged + other.judged, self.slow_p95 + other.slow_p95,
                   self.slow_p99 + other.slow_p99, self.costly + other.costly)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Arm:
        names = {f.name for f in fields(Arm)}
        return Arm(**{k: v for k, v in data.items() if k in names})

    @property
    def error_ratio(self) -> float:
        return self.errors / self.executions if self.executions else 0.0

    @property
    def cost_per_success(self) -> float:
        successes = self.executions - self.errors
        return self.successes_cost_usd / successes if successes else 0.0


def observation(outcome_ok: bool, latency_s: float, cost_usd: float,
                thresholds: Thresholds | None) -> Arm:
    """One execution as counts."""
    judged = thresholds is not None
    return Arm(executions=1, errors=0 if outcome_ok else 1,
               successes_cost_usd=cost_usd if outcome_ok else 0.0, judged=int(judged),
               slow_p95=int(judged and latency_s > thresholds.p95_s),  # type: ignore[union-attr]
               slow_p99=int(judged and latency_s > thresholds.p99_s),  # type: ignore[union-attr]
               costly=int(judged and cost_usd > thresholds.cost_usd))  # type: ignore[union-attr]


EVENTS = {  # event -> (what the summary calls it, how it is counted)
    "errors": "error ratio",
    "slow_p99": "executions slower than the baseline's p99",
    "slow_p95": "executions slower than the baseline's p95",
    "costly": "executions costlier than the baseline's p90",
}


def likelihood_ratio(weight: float, candidate_events: int, baseline_events: int) -> float:
    """The mixture likelihood ratio of "the candidate's event rate is higher" against "it is
    not", from the arms of the events seen (computed in logs: it can be astronomically large)."""
    total = 0.0
    for ratio in ALTERNATIVES:
        p = weight * ratio / (weight * ratio + 1 - weight)
        log_lr = (candidate_events * math.log(p / weight) +
                  baseline_events * math.log((1 - p) / (1 - weight)))
        total += math.exp(min(log_lr, 700.0))
    return total / len(ALTERNATIVES)


@dataclass(frozen=True)
class Verdict:
    decision: str  # "continue", "promote" or "roll_back"
    event: str | None  # the event that decided a rollback
    evidence: dict[str, float]  # likelihood ratio per event
    summary: str
    candidate: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(weight: float, candidate: Arm, baseline: Arm, alpha: float = ALPHA,
          min_executions: int = MIN_EXECUTIONS) -> Verdict:
    """Roll back as soon as one event's evidence reaches `len(EVENTS) / alpha`; promote once
    `min_executions` candidate executions were judged on every event without that; else go on."""
    counts = {"errors": (candidate.errors, baseline.errors),
              "slow_p95": (candidate.slow_p95, baseline.slow_p95),
              "slow_p99": (candidate.slow_p99, baseline.slow_p99),
              "costly": (candidate.costly, baseline.costly)}
    evidence = {event: likelihood_ratio(weight, *pair) for event, pair in counts.items()}
    bar = len(EVENTS) / alpha
    arms = {"candidate": candidate.to_dict(), "baseline": baseline.to_dict()}
    for event in EVENTS:  # errors first: the clearest reason when several hold
        if evidence[event] >= bar:
            return Verdict("roll_back", event, evidence,
                           describe(event, candidate, baseline), **arms)
    if candidate.judged >= min_executions:
        return Verdict("promote", None, evidence, describe("errors", candidate, baseline),
                       **arms)
    return Verdict("continue", None, evidence, describe("errors", candidate, baseline), **arms)


def describe(event: str, candidate: Arm, baseline: Arm) -> str:
    """"error ratio 4.1% against 0.1% after 300 executions" (the candidate's first)."""
    if event == "errors":
        return (f"error ratio {candidate.error_ratio:.1%} against {baseline.error_ratio:.1%} "
                f"after {candidate.executions} executions")
    if event == "costly":
        return (f"cost per success ${candidate.cost_per_success:.6f} against "
                f"${baseline.cost_per_success:.6f}; {_share(candidate.costly, candidate)} of "
                f"{EVENTS[event]} against {_share(baseline.costly, baseline)}, after "
                f"{candidate.executions} executions")
    mine, theirs = getattr(candidate, event), getattr(baseline, event)
    return (f"{_share(mine, candidate)} {EVENTS[event]} against {_share(theirs, baseline)}, "
            f"after {candidate.executions} executions")


def _share(events: int, arm: Arm) -> str:
    return f"{events / arm.judged:.1%}" if arm.judged else "n/a"
