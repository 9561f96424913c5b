"""SLO specs: OpenSLO v1 documents (`kind: SLO`, ratio metrics) over the runtime's own metrics,
read into a small domain model. Fleet defaults apply to a plugin type, overrides to one plugin:

    metadata:
      name: node-availability
      annotations:
        pluginops.dev/applies-to: type:node        # or plugin:acme-http
        pluginops.dev/page: "true"                 # tiers can be turned off per SLO
        pluginops.dev/ticket: "true"
    spec:
      indicator: {spec: {ratioMetric: {good: ..., total: ...}}}   # or bad/total
      timeWindow: [{duration: 30d, isRolling: true}]
      objectives: [{target: 0.999}]

An availability SLO counts `pluginops_plugin_executions_total` by outcome; a latency SLO counts
`..._duration_seconds_bucket{le="T"}` against `..._count`, and T must be a bucket bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts import conventions as c
from alerts.windows import seconds
from contracts.catalogue import LATENCY_BUCKETS, PLUGIN_EXECUTION_DURATION, PLUGIN_EXECUTIONS
from contracts.codes import Code
from contracts.errors import PluginopsError

ANNOTATION = "pluginops.dev/"


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class MetricSourceSpec(_Loose):
    query: str


class MetricSource(_Loose):
    type: str = "Prometheus"
    spec: MetricSourceSpec


class Metric(_Loose):
    metric_source: MetricSource = Field(alias="metricSource")


class RatioMetric(_Loose):
    counter: bool = True
    good: Metric | None = None
    bad: Metric | None = None
    total: Metric


class IndicatorSpec(_Loose):
    ratio_metric: RatioMetric = Field(alias="ratioMetric")


class Indicator(_Loose):
    spec: IndicatorSpec


class TimeWindow(_Loose):
    duration: str
    is_rolling: bool = Field(default=True, alias="isRolling")


class Objective(_Loose):
    target: float = Field(gt=0, lt=1)


class SloSpecBody(_Loose):
    service: str = "pluginops"
    description: str = ""
    indicator: Indicator
    time_window: list[TimeWindow] = Field(alias="timeWindow", min_length=1)
    budgeting_method: Literal["Occurrences"] = Field(default="Occurrences",
                                                     alias="budgetingMethod")
    objectives: list[Objective] = Field(min_length=1, max_length=1)


class Metadata(_Loose):
    name: str
    annotations: dict[str, str] = Field(default_factory=dict)


class OpenSloDocument(_Loose):
    api_version: Literal["openslo/v1"] = Field(alias="apiVersion")
    kind: Literal["SLO"]
    metadata: Metadata
    spec: SloSpecBody


@dataclass(frozen=True)
class Slo:
    name: str
    kind: str  # availability | latency
    scope: str  # type:<t> | plugin:<p>
    objective: float
    period: str
    threshold: float | None
    page: bool
    ticket: bool
    description: str
    source: str

    @property
    def period_seconds(self) -> float:
        return seconds(self.period)


def _error(source: str, message: str) -> PluginopsError:
    return PluginopsError(Code.SLO_SPEC_INVALID, message, where=source,
                          next_step="see alerts/slos/README.md for the accepted form")


def _classify(doc: OpenSloDocument, source: str) -> tuple[str, float | None]:
    ratio = doc.spec.indicator.spec.ratio_metric
    total = ratio.total.metric_source.spec.query
    event = (ratio.good or ratio.bad)
    if event is None:
        raise _error(source, "a ratio metric needs good or bad, and total")
    query = event.metric_source.spec.query
    if total.startswith(PLUGIN_EXECUTIONS.name) and query.startswith(PLUGIN_EXECUTIONS.name):
        return c.AVAILABILITY, None
    if total.startswith(f"{PLUGIN_EXECUTION_DURATION.name}_count") and \
            query.startswith(f"{PLUGIN_EXECUTION_DURATION.name}_bucket"):
        match = re.search(r'le="([^"]+)"', query)
        if not match:
            raise _error(source, "a latency SLO names its threshold as le=\"...\"")
        threshold = float(match.group(1))
        if threshold not in LATENCY_BUCKETS:
            raise _error(source, f"latency threshold {threshold} s is not a bucket bound of "
                                 f"{PLUGIN_EXECUTION_DURATION.name}; use one of "
                                 f"{', '.join(str(b) for b in LATENCY_BUCKETS)}")
        return c.LATENCY, threshold
    raise _error(source, "only availability and latency ratios over the runtime's metrics "
                         "are supported")


def parse_document(data: Any, source: str) -> Slo:
    try:
        doc = OpenSloDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _error(source, f"{'/'.join(str(p) for p in first['loc'])}: {first['msg']}"
                     ) from None
    notes = doc.metadata.annotations
    scope = notes.get(f"{ANNOTATION}applies-to", "")
    if not re.match(r"^(type:(node|integration|agent|quality_gate)|plugin:[a-z0-9][a-z0-9._-]*)$",
                    scope):
        raise _error(source, f"{ANNOTATION}applies-to must be type:<plugin type> or "
                             f"plugin:<name>, not {scope!r}")
    kind, threshold = _classify(doc, source)
    period = doc.spec.time_window[0].duration
    try:
        seconds(period)
    except ValueError:
        raise _error(source, f"timeWindow duration {period!r} is not like 30d") from None
    return Slo(doc.metadata.name, kind, scope, doc.spec.objectives[0].target, period, threshold,
               notes.get(f"{ANNOTATION}page", "true") == "true",
               notes.get(f"{ANNOTATION}ticket", "true") == "true", doc.spec.description, source)


def load_slos(folder: Path) -> list[Slo]:
    slos = []
    for path in sorted(folder.rglob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise _error(str(path), f"not YAML: {exc}") from None
        slos += [parse_document(doc, str(path)) for doc in docs if doc]
    seen: dict[tuple[str, str], str] = {}
    for slo in slos:
        key = (slo.kind, slo.scope)
        if key in seen:
            raise _error(slo.source, f"a second {slo.kind} SLO for {slo.scope} "
                                     f"(the first is in {seen[key]})")
        seen[key] = slo.source
    return slos
