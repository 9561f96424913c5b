"""Production incidents read from the store, for the scorecard's mean time to detect beside the
drills': every availability page (`PluginAvailabilityBudgetBurn`, severity page) is an incident.
It was detected when the page fired, its activation time in `ALERTS_FOR_STATE` (burn alerts have
no `for`); it began when the plugin's recorded 5-minute error ratio last rose above its budget
ratio (1 - objective) before the page: the first sample of the run of samples above it that the
page ended. A page with no such rise in the six hours before it (a slow burn) has no start and is
left out. Light: `collector.query_api`, no numpy."""

from __future__ import annotations

from alerts import conventions as c
from collector.query_api import QueryApi
from runtime.kpi.facts import Incident

PRODUCTION = "production"  # the drill of the incidents nobody injected
STEP_S = 60.0
RISE_LOOKBACK_S = 6 * 3600.0
CHUNK_S = 7 * 86400.0  # range queries in pieces of at most 10,080 steps


def activations(points: list[tuple[float, float]]) -> list[float]:
    """The distinct activation times an `ALERTS_FOR_STATE` series held, in order."""
    return sorted({value for _, value in points})


def incident_start(ratios: list[tuple[float, float]], allowed: float, fired_at: float
                   ) -> float | None:
    """The first sample of the last run above `allowed` at or before `fired_at`."""
    start = None
    for t, value in reversed([p for p in ratios if p[0] <= fired_at]):
        if value > allowed:
            start = t
        elif start is not None:
            break
    return start


class Incidents:
    def __init__(self, api: QueryApi) -> None:
        self.api = api

    def _range(self, expr: str, start: float, end: float
               ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        merged: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        low = start
        while low < end:
            high = min(end, low + CHUNK_S)
            for labels, points in self.api.range_points(expr, low, high, STEP_S):
                merged.setdefault(tuple(sorted(labels.items())), []).extend(points)
            low = high + STEP_S
        return [(dict(k), sorted(v)) for k, v in merged.items()]

    def read(self, start: float, end: float) -> list[Incident]:
        """The pages that fired between `start` and `end`, with when each incident began."""
        pages = (f'ALERTS_FOR_STATE{{alertname="{c.AVAILABILITY_BURN}", '
                 f'{c.SEVERITY}="{c.PAGE}"}}')
        out = []
        for labels, points in self._range(pages, start, end):
            plugin = labels.get(c.PLUGIN, "")
            for fired_at in activations(points):
                if not start <= fired_at < end:
                    continue
                selector = f'{c.PLUGIN}="{plugin}", {c.SLO}="{c.AVAILABILITY}"'
                objective = self.api.query(f"max({c.OBJECTIVE}{{{selector}}})", fired_at)
                ratios = self.api.range_points(f"max({c.error_ratio('5m')}{{{selector}}})",
                                               fired_at - RISE_LOOKBACK_S, fired_at, STEP_S / 4)
                if not objective or not ratios:
                    continue
                began = incident_start(ratios[0][1], 1 - objective[0][1], fired_at)
                if began is not None:
                    out.append(Incident(PRODUCTION, PRODUCTION, c.AVAILABILITY_BURN, began,
                                        fired_at - began))
        return out
