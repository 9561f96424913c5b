"""SLO trends read from the store: a plugin's (or the fleet's) SLO figures over the last 7 or 30
days beside the window before, and points to draw both (`GET /v1/plugins/<name>/slo`,
`GET /v1/fleet/slo`, the UI's plugin page). Light: instant and range queries through
`collector.query_api`, no numpy.

Figures over a window are increases of the raw counters summed after `increase` (never a sum of
counters before it: hosts restart apart); latency quantiles come from the summed histogram
buckets; the error-budget burn is the window's error ratio over the plugin's budget ratio
(1 - objective, from the rules' recorded objective)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerts import conventions as c
from alerts.windows import seconds
from collector.query_api import QueryApi
from contracts.catalogue import PLUGIN_EXECUTION_COST, PLUGIN_EXECUTION_DURATION, PLUGIN_EXECUTIONS
from contracts.outcomes import ExecutionOutcome
from runtime.kpi.compute import iso

WINDOWS = {"7d": "6h", "30d": "1d"}  # window -> the step its points are drawn at


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    better: str | None  # "higher", "lower", or None when neither is better


EXECUTIONS = Figure("executions", "count", None)
AVAILABILITY = Figure("availability", "ratio", "higher")
BURN = Figure("error_budget_burn", "ratio", "lower")
P95 = Figure("latency_p95", "seconds", "lower")
P99 = Figure("latency_p99", "seconds", "lower")
COST = Figure("cost_per_success", "usd", "lower")
FIGURES = (EXECUTIONS, AVAILABILITY, BURN, P95, P99, COST)


def _increase(name: str, selector: str, window: str, offset: str) -> str:
    shift = f" offset {offset}" if offset else ""
    return f"sum(increase({name}{{{selector}}}[{window}]{shift}))"


def expressions(selector: str, window: str, offset: str = "") -> dict[str, str]:
    """The PromQL of every figure but the burn (derived from availability), over `window`
    ending `offset` ago, for the series `selector` picks."""
    success = ", ".join(p for p in (selector, f'outcome="{ExecutionOutcome.SUCCESS}"') if p)
    executions = _increase(PLUGIN_EXECUTIONS.name, selector, window, offset)
    successes = _increase(PLUGIN_EXECUTIONS.name, success, window, offset)
    shift = f" offset {offset}" if offset else ""
    buckets = (f"sum by (le) (increase({PLUGIN_EXECUTION_DURATION.name}_bucket{{{selector}}}"
               f"[{window}]{shift}))")
    return {
        EXECUTIONS.name: executions,
        AVAILABILITY.name: f"{successes}\n/\n({executions} > 0)",
        P95.name: f"histogram_quantile(0.95, {buckets})",
        P99.name: f"histogram_quantile(0.99, {buckets})",
        COST.name: f"{_increase(PLUGIN_EXECUTION_COST.name, selector, window, offset)}\n/\n"
                   f"({successes} > 0)",
    }


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def _burn(availability: float | None, objective: float | None) -> float | None:
    if availability is None or objective is None or objective >= 1:
        return None
    return (1 - availability) / (1 - objective)


def _burned(points: dict[float, float], objective: float) -> dict[float, float]:
    return {t: b for t, v in points.items() if (b := _burn(v, objective)) is not None}


def _change(current: float | None, previous: float | None) -> float | None:
    return current / previous - 1 if current is not None and previous else None


class Trends:
    """Reads trends from a store; `now` is injectable for tests over known data."""

    def __init__(self, api: QueryApi, now: Callable[[], float] = time.time) -> None:
        self.api = api
        self.now = now

    def _instant(self, expr: str, at: float) -> float | None:
        found = self.api.query(expr, at)
        return _number(found[0][1]) if found else None

    def _points(self, expr: str, start: float, end: float, step: float) -> dict[float, float]:
        found = self.api.range_points(expr, start, end, step)
        if not found:
            return {}
        return {round(t, 3): v for t, v in found[0][1] if _number(v) is not None}

    def objective(self, plugin: str | None, at: float) -> float | None:
        if plugin is None:
            return None
        return self._instant(f'max({c.OBJECTIVE}{{{c.PLUGIN}="{plugin}", '
                             f'{c.SLO}="{c.AVAILABILITY}"}})', at)

    def read(self, plugin: str | None, window: str) -> dict[str, Any]:
        """The trend document of `plugin` (None: the fleet) over `window` (a WINDOWS key)."""
        at = self.now()
        span, step = seconds(window), seconds(WINDOWS[window])
        selector = f'{c.PLUGIN}="{plugin}"' if plugin else ""
        now_exprs = expressions(selector, window)
        before_exprs = expressions(selector, window, window)
        point_exprs = expressions(selector, WINDOWS[window])
        earlier_exprs = expressions(selector, WINDOWS[window], window)
        first = at - span + step
        steps = [first + i * step for i in range(round(span / step))]
        objective = self.objective(plugin, at)
        figures, drawn = {}, {}
        for name in now_exprs:
            figures[name] = (self._instant(now_exprs[name], at),
                             self._instant(before_exprs[name], at))
            drawn[name] = (self._points(point_exprs[name], first, at, step),
                           self._points(earlier_exprs[name], first, at, step))
        if objective is not None:
            now_value, before_value = figures[AVAILABILITY.name]
            figures[BURN.name] = (_burn(now_value, objective), _burn(before_value, objective))
            drawn[BURN.name] = (_burned(drawn[AVAILABILITY.name][0], objective),
                                _burned(drawn[AVAILABILITY.name][1], objective))
        out = []
        for figure in FIGURES:
            if figure.name not in figures:
                continue
            current, previous = figures[figure.name]
            now_points, before_points = drawn[figure.name]
            out.append({
                "name": figure.name, "unit": figure.unit, "better": figure.better,
                "current": current, "previous": previous, "change": _change(current, previous),
                "points": [{"at": iso(t), "current": now_points.get(round(t, 3)),
                            "previous": before_points.get(round(t, 3))} for t in steps]})
        return {"plugin": plugin, "window": window, "at": iso(at),
                "current_window": {"start": iso(at - span), "end": iso(at)},
                "previous_window": {"start": iso(at - 2 * span), "end": iso(at - span)},
                "objective": objective, "figures": out}
