"""The web UI's view of each plugin's SLO budgets, and the API's SLO trends, read from the
Prometheus that runs the generated recording rules: wired into the API by `pluginops serve` (the
API and the UI know neither the rule names nor the Prometheus client)."""

from __future__ import annotations

import logging
import time

from alerts import conventions as c
from contracts.errors import PluginopsError
from pluginops import extras
from runtime.api.trends import TrendReader
from runtime.api.ui import SloReader, no_slo_reader
from runtime.kpi.facts import Incident, IncidentReader

log = logging.getLogger(__name__)


def budget_reader(prometheus_url: str | None) -> SloReader:
    if not prometheus_url:
        return no_slo_reader
    if extras.missing("evaluator"):  # the Prometheus client is the collector's (numpy, pandas)
        return lambda: "SLO budgets need the 'evaluator' extra: pip install 'pluginops[evaluator]'"
    from collector.prometheus import PrometheusClient

    client = PrometheusClient(prometheus_url, timeout_s=2.0, retries=0)

    def read() -> dict[str, list[str]] | str:
        try:
            answer = client.query(c.BUDGET_REMAINING, time.time())
        except PluginopsError:
            return "Prometheus unreachable"
        out: dict[str, list[str]] = {}
        for labels, value in sorted(answer, key=lambda item: item[0].get(c.SLO, "")):
            out.setdefault(labels.get(c.PLUGIN, ""), []).append(
                f"{labels.get(c.SLO, '?')} {value * 100:.1f}% of budget left")
        return out

    return read


def trend_reader(prometheus_url: str | None) -> TrendReader | None:
    """SLO trends from the store at `prometheus_url` (none without one)."""
    if not prometheus_url:
        return None
    from collector.query_api import QueryApi
    from evaluator.trends import Trends

    return Trends(QueryApi(prometheus_url, timeout_s=10.0, retries=1)).read


def incident_reader(prometheus_url: str | None, degrade: bool = True) -> IncidentReader | None:
    """The production pages the store at `prometheus_url` saw (none without one). `degrade`: a
    store that fails gives no incidents (the scorecard still answers from the records), with a
    warning in the log; otherwise its error propagates."""
    if not prometheus_url:
        return None
    from collector.query_api import QueryApi
    from evaluator.incidents import Incidents

    reader = Incidents(QueryApi(prometheus_url, timeout_s=10.0, retries=1)).read
    if not degrade:
        return reader

    def read(start: float, end: float) -> list[Incident]:
        try:
            return reader(start, end)
        except PluginopsError as err:
            log.warning("production incidents left out of the KPIs: %s", err)
            return []

    return read
