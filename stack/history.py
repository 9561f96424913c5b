"""Clean history of the fault plugin before a stack starts, as production would have: the live
alerts read windows of hours and days, which minutes of live traffic cannot fill. Each target
(a runtime host as its scraper labels it) gets its own counters at its own rate; the recorded
SLO rates are the fleet's sums. Pure: sample lines by family, written as TSDB blocks for
Prometheus (`backfill.write_blocks`) or imported into a store (`backfill.import_text`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.utils import floatToGoString

from alerts import conventions as c
from contracts.catalogue import (
    LATENCY_BUCKETS,
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
)
from stack.backfill import counter_samples, gauge_samples, noisy_counter_samples

# Six hours of raw history fill every page window; three days of the recorded 5-minute rates
# fill the ticket windows (1d, 3d), which are computed from them.
RAW_HISTORY_S = 6 * 3600.0
RECORDED_HISTORY_S = 3 * 86400.0
LATENCY_HISTORY_S = 7 * 86400.0 + 3600.0
# The latency history runs at a quarter of the live rate: the regression rule compares p95 over
# 30 minutes (5% of that window's executions must be slow), so at equal rates a regression
# shows after 90 s of slow traffic, at a quarter after 23 s. Quantiles do not depend on rates.
LATENCY_HISTORY_SHARE = 0.25
Families = dict[str, tuple[str, list[str]]]


@dataclass(frozen=True)
class Target:
    """One scraped runtime: the labels its scraper attaches (job, instance, host...) and the
    executions a second it served."""

    labels: dict[str, str]
    rate: float


@dataclass(frozen=True)
class Plugin:
    name: str
    plugin_type: str = "node"
    version: str = "1.0.0"
    recorded_labels: dict[str, str] = field(default_factory=dict)  # e.g. the ruler's cluster


def families(plugin: Plugin, targets: list[Target], kinds: tuple[str, ...], cost_usd: float,
             now: float, recorded_step_s: float = 1.0) -> Families:
    """`slo` (6 h of executions, 3 d of recorded rates, one every `recorded_step_s`), `cost`
    (6 h of cost), `latency` (a week of the latency histogram). Each scenario asks only for what
    its alert reads, so machine noise against synthetic history cannot raise another alert."""
    own = {"plugin": plugin.name, "plugin_type": plugin.plugin_type}
    out: Families = {}
    if "slo" in kinds:
        name = PLUGIN_EXECUTIONS.name
        raw: list[str] = []
        for target in targets:
            base = {**target.labels, **own, "version": plugin.version}
            raw += counter_samples(name, {**base, "outcome": "success"}, now - RAW_HISTORY_S,
                                   now - 5, 5.0, target.rate)
            raw += counter_samples(name, {**base, "outcome": "error"}, now - RAW_HISTORY_S,
                                   now - 5, 5.0, 0.0)
        out[name.removesuffix("_total")] = ("counter", raw)
        total = sum(t.rate for t in targets)
        recorded = {**own, **plugin.recorded_labels}
        for rule, value in ((c.TOTAL_RATE, total), (c.BAD_RATE, 0.0)):
            out[rule] = ("gauge", [
                line for slo in c.SLO_KINDS for line in gauge_samples(
                    rule, {**recorded, c.SLO: slo}, now - RECORDED_HISTORY_S, now - 5,
                    recorded_step_s, value)])
    if "cost" in kinds:
        cost = PLUGIN_EXECUTION_COST.name
        out[cost.removesuffix("_total")] = ("counter", [
            line for target in targets for line in noisy_counter_samples(
                cost, {**target.labels, **own}, now - RAW_HISTORY_S, now - 5, 5.0,
                target.rate * cost_usd, spread=0.9)])
    if "latency" in kinds:
        hist = PLUGIN_EXECUTION_DURATION.name
        lines: list[str] = []
        for target in targets:
            labels = {**target.labels, **own}
            rate = target.rate * LATENCY_HISTORY_SHARE
            for bound in (*LATENCY_BUCKETS, float("inf")):
                le = floatToGoString(bound)  # type: ignore[no-untyped-call]
                lines += counter_samples(f"{hist}_bucket", {**labels, "le": le},
                                         now - LATENCY_HISTORY_S, now - 5, 30.0, rate)
            lines += counter_samples(f"{hist}_count", labels, now - LATENCY_HISTORY_S,
                                     now - 5, 30.0, rate)
            lines += counter_samples(f"{hist}_sum", labels, now - LATENCY_HISTORY_S, now - 5,
                                     30.0, rate * 0.002)
        out[hist] = ("histogram", lines)
    return out
