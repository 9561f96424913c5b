"""Reading what the store already computed. Against a Prometheus-compatible store that runs the
generated recording rules, the SLO figures the rules record (every window's error ratio and burn
rate, the period's ratio and budget, p95/p99) are read from the recorded series at the evaluated
instant instead of being recomputed from raw counters: the evaluator then says what the ruler
says, whatever the store's own `rate()` does (VictoriaMetrics' differs from Prometheus') and
however the scrapes of a fleet's hosts are offset. The raw series stay the source of what no
rule computes (anomalies, regressions, trends). A figure the store has not recorded (the rules
are not loaded there, a plugin too new) keeps its computed value; the evaluation says which."""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts import conventions as c
from alerts.windows import seconds
from collector.prometheus import PrometheusClient
from evaluator.plugin import PluginOutcome
from evaluator.results import WindowFigures

RULE_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@dataclass
class Recorded:
    ratios: dict[tuple[str, str, str], float] = field(default_factory=dict)  # plugin, slo, w
    burns: dict[tuple[str, str, str], float] = field(default_factory=dict)
    periods: dict[tuple[str, str], float] = field(default_factory=dict)
    budgets: dict[tuple[str, str], float] = field(default_factory=dict)
    p95: dict[str, float] = field(default_factory=dict)
    p99: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.ratios or self.periods or self.p95)


def _by_slo(client: PrometheusClient, name: str, at_s: float) -> dict[tuple[str, str], float]:
    return {(labels.get(c.PLUGIN, ""), labels.get(c.SLO, "")): value
            for labels, value in client.query(name, at_s)}


def read(client: PrometheusClient, at_s: float) -> Recorded:
    """The recorded SLO series at `at_s`: 18 instant queries, whatever the fleet's size."""
    out = Recorded()
    for window in RULE_WINDOWS:
        for (plugin, slo), value in _by_slo(client, c.error_ratio(window), at_s).items():
            out.ratios[(plugin, slo, window)] = value
        for (plugin, slo), value in _by_slo(client, c.burn_rate(window), at_s).items():
            out.burns[(plugin, slo, window)] = value
    out.periods = _by_slo(client, c.PERIOD_ERROR_RATIO, at_s)
    out.budgets = _by_slo(client, c.BUDGET_REMAINING, at_s)
    out.p95 = {plugin: v for (plugin, _), v in _by_slo(client, c.LATENCY_P95, at_s).items()}
    out.p99 = {plugin: v for (plugin, _), v in _by_slo(client, c.LATENCY_P99, at_s).items()}
    return out


Key = tuple[str, str, str]  # plugin, slo kind, window (or "budget", or "p95"/"p99" with no slo)


def overlay(outcomes: list[PluginOutcome], recorded: Recorded) -> set[Key]:
    """Replace computed figures with recorded ones where the store has them; which."""
    replaced: set[Key] = set()
    for outcome in outcomes:
        result = outcome.result
        for slo in result.slos:
            for window in (*RULE_WINDOWS, slo.period):
                key = (result.plugin, slo.slo, window)
                ratio = recorded.ratios.get(key) if window != slo.period else \
                    recorded.periods.get((result.plugin, slo.slo))
                if ratio is None:
                    continue
                budget_ratio = 1 - slo.objective
                burn = recorded.burns.get(key, ratio / budget_ratio if budget_ratio else None)
                slo.windows[window] = WindowFigures(error_ratio=ratio, burn_rate=burn)
                replaced.add(key)
            remaining = recorded.budgets.get((result.plugin, slo.slo))
            if remaining is not None:
                slo.budget_remaining = remaining
                slo.budget_consumed = 1 - remaining
                period = slo.windows.get(slo.period)
                if period is not None and period.error_ratio is not None:
                    slo.compliant = period.error_ratio <= 1 - slo.objective
                replaced.add((result.plugin, slo.slo, "budget"))
        for attribute, values in (("p95", recorded.p95), ("p99", recorded.p99)):
            if result.plugin in values:
                setattr(result.latency, attribute, values[result.plugin])
                replaced.add((result.plugin, "", attribute))
    return replaced


def unknown_unless_recorded(outcomes: list[PluginOutcome], replaced: set[Key],
                            coarse_after_s: float) -> int:
    """When the raw series are kept coarsely beyond a few hours, the windows that reach back
    there (1d, 3d, the period) cannot be computed from them: a figure the store did not record
    is reported unknown rather than wrong. How many."""
    blanked = 0
    for outcome in outcomes:
        result = outcome.result
        for slo in result.slos:
            for window in list(slo.windows):
                if seconds(window) > coarse_after_s and \
                        (result.plugin, slo.slo, window) not in replaced:
                    slo.windows[window] = WindowFigures(error_ratio=None, burn_rate=None)
                    blanked += 1
            if (result.plugin, slo.slo, "budget") not in replaced:
                slo.budget_remaining = slo.budget_consumed = slo.compliant = None
                blanked += 1
    return blanked
