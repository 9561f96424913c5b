"""The fleet from its plugins: event-weighted roll-ups, compliance counts and rankings."""

from __future__ import annotations

import numpy as np

from evaluator.figures import summed, trends
from evaluator.latency import quantile_of_counts
from evaluator.plugin import PluginOutcome
from evaluator.results import Fleet, PluginResult, Ranked

TOP = 10
MIN_EXECUTIONS_TO_RANK = 100  # a plugin with 3 executions and 1 error is not "top failing"
BURN_WINDOW = "1h"


def _quantiles(buckets: list[np.ndarray]) -> dict[str, float | None]:
    if not buckets:
        return {"p95": None, "p99": None}
    merged = np.sum(buckets, axis=0)
    if merged.sum() <= 0:
        return {"p95": None, "p99": None}
    return {name: float(quantile_of_counts(q, merged)[0])
            for name, q in (("p95", 0.95), ("p99", 0.99))}


def _ranked(results: list[PluginResult], key: dict[str, float]) -> list[Ranked]:
    by_name = {r.plugin: r for r in results}
    order = sorted(key.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return [Ranked(plugin=p, plugin_type=by_name[p].plugin_type, value=v) for p, v in order]


def roll_up(outcomes: list[PluginOutcome]) -> Fleet:
    results = [o.result for o in outcomes]
    current = summed([r.current_window for r in results],
                     _quantiles([o.buckets_current for o in outcomes]))
    previous = summed([r.previous_window for r in results],
                      _quantiles([o.buckets_previous for o in outcomes]))
    compliant = breached = without = 0
    for r in results:
        verdicts = [s.compliant for s in r.slos if s.compliant is not None]
        if not verdicts:
            without += 1
        elif all(verdicts):
            compliant += 1
        else:
            breached += 1
    failing = {r.plugin: r.current_window.error_ratio for r in results
               if r.current_window.error_ratio and
               (r.current_window.executions or 0) >= MIN_EXECUTIONS_TO_RANK}
    costly = {r.plugin: r.current_window.cost_usd for r in results
              if r.current_window.cost_usd}
    burning: dict[str, float] = {}
    for r in results:
        rates = [s.windows[BURN_WINDOW].burn_rate for s in r.slos
                 if BURN_WINDOW in s.windows and s.windows[BURN_WINDOW].burn_rate]
        if rates:
            burning[r.plugin] = max(x for x in rates if x is not None)
    return Fleet(plugins=len(results), current_window=current, previous_window=previous,
                 trends=trends(current, previous), slo_compliant=compliant,
                 slo_breached=breached, slo_without_data=without,
                 top_failing=_ranked(results, {k: v for k, v in failing.items() if v}),
                 top_costly=_ranked(results, {k: v for k, v in costly.items() if v}),
                 fastest_burning=_ranked(results, burning))
