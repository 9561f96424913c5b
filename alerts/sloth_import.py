"""Importing Sloth's `prometheus/v1` SLO specs: the same SLIs, windows and multi-window alerts,
with this generator's semantics where Sloth's differ.

- Event SLIs (`error_query` / `total_query`, `{{.window}}` templated) get an event-weighted
  period ratio (sum of bad over sum of all events), where Sloth averages 5-minute ratios, and a
  clamped denominator, so zero traffic is 0, not NaN.
- Raw SLIs (`error_ratio_query`) carry no event counts: their long windows and period average
  the 5-minute ratio, as Sloth does; that is the best a ratio-only SLI allows.
- Factors derive from the period (`--period`, default 30d): 14.4/6/3/1 at 30 days.
- Severity is the `severity` label (`page` or `ticket`), as the rest of Pluginops routes on.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts import conventions as c
from alerts.windows import ALL_WINDOWS, LONG_WINDOWS, TIERS, seconds
from contracts.codes import Code
from contracts.errors import PluginopsError

EPSILON = "1e-12"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Events(_Model):
    error_query: str
    total_query: str


class Raw(_Model):
    error_ratio_query: str


class Sli(_Model):
    events: Events | None = None
    raw: Raw | None = None
    plugin: dict[str, Any] | None = None


class AlertTier(_Model):
    disable: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Alerting(_Model):
    name: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page_alert: AlertTier = Field(default_factory=AlertTier)
    ticket_alert: AlertTier = Field(default_factory=AlertTier)


class SlothSlo(_Model):
    name: str
    objective: float = Field(gt=0, lt=100)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    sli: Sli
    alerting: Alerting = Field(default_factory=Alerting)


class SlothSpec(_Model):
    version: str
    service: str
    labels: dict[str, str] = Field(default_factory=dict)
    slos: list[SlothSlo]


def _window(query: str, window: str) -> str:
    return query.replace("{{.window}}", window).strip()


def _slo_group(spec: SlothSpec, slo: SlothSlo, period: str) -> dict[str, Any]:
    ids = {"sloth_service": spec.service, "sloth_slo": slo.name}
    labels = {**spec.labels, **slo.labels, **ids}
    sel = "{" + ", ".join(f'{k}="{v}"' for k, v in ids.items()) + "}"
    rules: list[dict[str, Any]] = []
    events = slo.sli.events
    raw = slo.sli.raw
    if events is None and raw is None:
        raise PluginopsError(Code.SLOTH_SLI_UNSUPPORTED, f"SLO {slo.name}: only events and raw "
                             "SLIs are imported", where=slo.name,
                             next_step="rewrite the SLI as error_query/total_query")
    if events is not None:
        rules.append({"record": c.BAD_RATE, "expr": _window(events.error_query, "5m"),
                      "labels": labels})
        rules.append({"record": c.TOTAL_RATE, "expr": _window(events.total_query, "5m"),
                      "labels": labels})
    for window in (*ALL_WINDOWS, "period"):
        span = period if window == "period" else window
        if events is not None and (window in LONG_WINDOWS or window == "period"):
            expr = (f"(sum_over_time({c.BAD_RATE}{sel}[{span}]) or "
                    f"sum_over_time({c.TOTAL_RATE}{sel}[{span}]) * 0)\n/\n"
                    f"clamp_min(sum_over_time({c.TOTAL_RATE}{sel}[{span}]), {EPSILON})")
        elif events is not None:
            bad, total = _window(events.error_query, span), _window(events.total_query, span)
            expr = f"(({bad}) or ({total}) * 0)\n/\nclamp_min(({total}), {EPSILON})"
        elif window in LONG_WINDOWS or window == "period":
            expr = f"avg_over_time({c.error_ratio('5m')}{sel}[{span}])"
        else:
            assert raw is not None
            expr = _window(raw.error_ratio_query, span)
        name = c.PERIOD_ERROR_RATIO if window == "period" else c.error_ratio(window)
        rules.append({"record": name, "expr": expr, "labels": labels})
    budget = round(1 - slo.objective / 100, 12)
    period_s = seconds(period)
    alerting = slo.alerting
    if alerting.name:
        for severity, tier_spec in (("page", alerting.page_alert),
                                    ("ticket", alerting.ticket_alert)):
            if tier_spec.disable:
                continue
            conditions = [
                f"({c.error_ratio(t.long)}{sel} > {t.factor(period_s):g} * {budget:g}\n"
                f"   and\n   {c.error_ratio(t.short)}{sel} > {t.factor(period_s):g} * "
                f"{budget:g})"
                for t in TIERS if t.severity == severity]
            rules.append({
                "alert": alerting.name, "expr": "\nor\n".join(conditions),
                "labels": {**alerting.labels, **tier_spec.labels, c.SEVERITY: severity},
                "annotations": {
                    "summary": f"{spec.service} {slo.name} is burning its error budget",
                    "description": slo.description or f"{slo.objective}% objective",
                    **alerting.annotations, **tier_spec.annotations}})
    return {"name": c.group(f"sloth-{spec.service}-{slo.name}"), "rules": rules}


def import_sloth(text: str, period: str = "30d") -> dict[str, Any]:
    try:
        seconds(period)
    except ValueError:
        raise PluginopsError(Code.PERIOD_INVALID, f"{period!r} is not like 30d", where="--period",
                             next_step="e.g. --period 28d") from None
    groups = []
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        if doc.get("version") != "prometheus/v1":
            raise PluginopsError(Code.SLOTH_VERSION_UNSUPPORTED, f"version {doc.get('version')!r}",
                                 where="version", next_step="only prometheus/v1 is imported")
        try:
            spec = SlothSpec.model_validate(doc)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise PluginopsError(Code.SLOTH_SPEC_INVALID, f"{'/'.join(map(str, first['loc']))}: "
                                 f"{first['msg']}", where="spec",
                                 next_step="check it with Sloth's validator") from None
        groups += [_slo_group(spec, slo, period) for slo in spec.slos]
    return {"groups": groups}
