"""A wave's gate: is the new version burning its error budget faster than it may, on the hosts
that took it? Read from the metrics store (any Prometheus-compatible query API): the version's
executions and failures on those hosts since the gate opened.

The budget allows a failure ratio of `(1 - objective) x max_burn` (the plugin's availability
objective from the SLO specs; `max_burn` 1: no faster than the budget lasts its period). The
evidence that the version fails more often is a likelihood ratio of "its ratio is 1.5x to 100x
the allowed one" against "it is the allowed one", over its executions: a test martingale while
the version is within budget, so the gate may look every few seconds and still fails a good
version with probability at most `alpha`. The gate fails as soon as the evidence reaches
`1 / alpha`; it passes when its time is up. Pure but for `counts`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from alerts import conventions as c
from alerts.spec import Slo
from collector.query_api import QueryApi
from contracts.catalogue import PLUGIN_EXECUTIONS

RATIOS = (1.5, 2.0, 5.0, 10.0, 30.0, 100.0)


@dataclass(frozen=True)
class GateSettings:
    seconds: float = 300.0  # how long each wave is watched before the next one
    max_burn: float = 1.0
    alpha: float = 0.01
    poll_s: float = 2.0  # a look costs two instant queries


@dataclass(frozen=True)
class Evidence:
    executions: float
    failures: float
    allowed_ratio: float
    likelihood_ratio: float

    @property
    def ratio(self) -> float:
        return self.failures / self.executions if self.executions else 0.0

    def summary(self) -> str:
        return (f"error ratio {self.ratio:.1%} over {self.executions:.0f} executions against "
                f"{self.allowed_ratio:.2%} allowed")

    def to_dict(self) -> dict[str, float | str]:
        return {**asdict(self), "ratio": self.ratio, "summary": self.summary()}


def allowed_ratio(slos: list[Slo], plugin: str, plugin_type: str, max_burn: float) -> float:
    """The failure ratio the plugin's availability objective affords, times `max_burn`."""
    scoped = {s.scope: s.objective for s in slos if s.kind == "availability"}
    objective = scoped.get(f"plugin:{plugin}", scoped.get(f"type:{plugin_type}", 0.999))
    return min(0.5, (1.0 - objective) * max_burn)


def likelihood_ratio(executions: float, failures: float, allowed: float) -> float:
    total = 0.0
    for ratio in RATIOS:
        p = min(0.999, allowed * ratio)
        log_lr = (failures * math.log(p / allowed) +
                  (executions - failures) * math.log((1 - p) / (1 - allowed)))
        total += math.exp(min(log_lr, 700.0))
    return total / len(RATIOS)


def counts(store: QueryApi, plugin: str, version: str, hosts: list[str],
           since: float, now: float) -> tuple[float, float]:
    """The version's executions and failures on `hosts` between `since` and `now`."""
    window = max(1, math.ceil(now - since))
    selector = (f'plugin="{plugin}", version="{version}", '
                f'{c.HOST}=~"{"|".join(hosts)}"')
    name = PLUGIN_EXECUTIONS.name

    def total(extra: str) -> float:
        found = store.query(f"sum(increase({name}{{{selector}{extra}}}[{window}s]))", now)
        return max(0.0, found[0][1]) if found else 0.0

    return total(""), total(', outcome!="success"')


def judge(executions: float, failures: float, allowed: float,
          settings: GateSettings) -> tuple[bool, Evidence]:
    """Whether the gate fails now, with the evidence."""
    evidence = Evidence(executions, failures, allowed,
                        likelihood_ratio(executions, failures, allowed))
    return evidence.likelihood_ratio >= 1.0 / settings.alpha, evidence
