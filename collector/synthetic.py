"""A synthetic fleet with known incidents: counters as the runtime would export them, sampled
every `step` seconds, with Poisson traffic, a daily cycle, and incidents injected where the
caller says. The ground truth comes back with the data, so detectors can be scored against it,
and the same data can be written as OpenMetrics (for a real Prometheus) or Parquet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from collector import schema as s
from contracts.catalogue import LATENCY_BUCKETS, PLUGIN_TYPES

COST_PLUGIN_TYPES = ("agent", "integration")


@dataclass(frozen=True)
class Incident:
    plugin: str
    kind: str  # cost | errors | latency_tail | outage
    start_s: float
    end_s: float
    magnitude: float  # cost: multiplier; errors: error ratio; latency_tail: share moved to 5-10 s


@dataclass(frozen=True)
class PluginProfile:
    name: str
    plugin_type: str
    rate: float  # executions per second at the daily mean
    error_ratio: float
    latency_median_s: float
    latency_sigma: float
    cost_per_success: float
    tokens_per_success: float


@dataclass(frozen=True)
class Fleet:
    start_s: float
    end_s: float
    step_s: float
    plugins: tuple[PluginProfile, ...]
    incidents: tuple[Incident, ...] = ()
    seed: int = 1
    daily_amplitude: float = 0.4
    cost_cycle: float = 0.0  # daily swing of the cost per success (peak-hour pricing)
    operations: bool = True

    @property
    def timestamps_ms(self) -> np.ndarray:
        count = int((self.end_s - self.start_s) // self.step_s) + 1
        return (np.arange(count, dtype="int64") * int(self.step_s * 1000)
                + int(self.start_s * 1000))


def profiles(count: int, seed: int = 1) -> tuple[PluginProfile, ...]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        kind = PLUGIN_TYPES[i % len(PLUGIN_TYPES)]
        paid = kind in COST_PLUGIN_TYPES
        out.append(PluginProfile(
            name=f"{kind.replace('_', '-')}-{i:04d}", plugin_type=kind,
            rate=float(rng.uniform(0.2, 3.0)), error_ratio=float(rng.uniform(0.0001, 0.0008)),
            latency_median_s=float(rng.uniform(0.02, 0.3)), latency_sigma=0.5,
            cost_per_success=float(rng.uniform(0.0005, 0.01)) if paid else 0.0,
            tokens_per_success=float(rng.uniform(200, 2000)) if kind == "agent" else 0.0))
    return tuple(out)


def _bucket_probabilities(median: float, sigma: float) -> np.ndarray:
    """P(duration <= bound) for each finite bound, for a log-normal duration."""
    from scipy import stats

    return np.asarray(stats.lognorm(sigma, scale=median).cdf(np.asarray(LATENCY_BUCKETS)),
                      dtype="float64")


def _active(ts_s: np.ndarray, incidents: list[Incident], kind: str) -> np.ndarray:
    out = np.zeros(len(ts_s))
    for incident in incidents:
        if incident.kind == kind:
            inside = (ts_s > incident.start_s) & (ts_s <= incident.end_s)
            out[inside] = incident.magnitude
    return out


def plugin_frame(fleet: Fleet, profile: PluginProfile, index: int) -> pd.DataFrame:
    rng = np.random.default_rng([fleet.seed, index])
    ts = fleet.timestamps_ms
    ts_s = ts / 1000.0
    mine = [i for i in fleet.incidents if i.plugin == profile.name]
    cycle = 1 + fleet.daily_amplitude * np.sin(2 * np.pi * (ts_s % 86400) / 86400)
    executions = rng.poisson(profile.rate * fleet.step_s * cycle)
    executions[0] = 0
    outage = _active(ts_s, mine, "outage") > 0
    error_ratio = np.where(_active(ts_s, mine, "errors") > 0, _active(ts_s, mine, "errors"),
                           profile.error_ratio)
    error_ratio = np.where(outage, 1.0, error_ratio)
    bad = rng.binomial(executions, error_ratio)
    errors = rng.binomial(bad, 0.7)
    timeouts = rng.binomial(bad - errors, 0.8)
    denied = bad - errors - timeouts
    success = executions - bad

    cdf = _bucket_probabilities(profile.latency_median_s, profile.latency_sigma)
    probs = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    per_bucket = rng.multinomial(executions, probs)
    tail = _active(ts_s, mine, "latency_tail")
    if tail.any():
        slow_bucket = LATENCY_BUCKETS.index(10.0)
        moved = rng.binomial(per_bucket[:, :slow_bucket].sum(axis=1), tail)
        # take the moved executions from the fastest buckets first, keep counts non-negative
        remaining = moved.copy()
        for b in range(slow_bucket):
            take = np.minimum(per_bucket[:, b], remaining)
            per_bucket[:, b] -= take
            remaining -= take
        per_bucket[:, slow_bucket] += moved
    centres = np.concatenate([[LATENCY_BUCKETS[0] / 2],
                              (np.asarray(LATENCY_BUCKETS[1:]) + LATENCY_BUCKETS[:-1]) / 2,
                              [LATENCY_BUCKETS[-1] * 1.5]])
    duration = per_bucket @ centres

    multiplier = np.where(_active(ts_s, mine, "cost") > 0, _active(ts_s, mine, "cost"), 1.0)
    multiplier = multiplier * (1 + fleet.cost_cycle * np.sin(2 * np.pi * (ts_s % 86400) / 86400))
    cost = success * profile.cost_per_success * multiplier * rng.lognormal(0, 0.05, len(ts))
    tokens = rng.poisson(success * profile.tokens_per_success) if profile.tokens_per_success \
        else np.zeros(len(ts))

    frame = {s.TIMESTAMP: ts, s.PLUGIN: profile.name, s.PLUGIN_TYPE: profile.plugin_type,
             s.outcome_column("success"): np.cumsum(success).astype("float64"),
             s.outcome_column("error"): np.cumsum(errors).astype("float64"),
             s.outcome_column("timeout"): np.cumsum(timeouts).astype("float64"),
             s.outcome_column("denied"): np.cumsum(denied).astype("float64")}
    cumulative = np.cumsum(np.cumsum(per_bucket, axis=1), axis=0).astype("float64")
    for i, column in enumerate(s.BUCKET_COLUMNS):
        frame[column] = cumulative[:, i]
    frame[s.LATENCY_COUNT] = cumulative[:, -1]
    frame[s.LATENCY_SUM] = np.cumsum(duration)
    frame[s.COST] = np.cumsum(cost)
    frame[s.TOKENS] = np.cumsum(tokens).astype("float64")
    return pd.DataFrame(frame)


def plugin_frames(fleet: Fleet) -> Iterator[pd.DataFrame]:
    for index, profile in enumerate(fleet.plugins):
        yield plugin_frame(fleet, profile, index)


def operations(fleet: Fleet) -> pd.DataFrame:
    """Installs, updates, rollbacks and denials for the first plugins (per day: 1-2 installs,
    0-2 updates, 0-15 network denials, one rolled-back update for every fifth plugin): counters
    sampled at the fleet's step, growing evenly from its start to its end."""
    if not fleet.operations or not fleet.plugins:
        return s.empty_operations()
    start, end = int(fleet.start_s * 1000), int(fleet.end_s * 1000)
    ts = np.arange(start, end + 1, int(fleet.step_s * 1000), dtype="int64")
    if ts[-1] != end:
        ts = np.append(ts, end)
    days = (ts - start) / 86_400_000
    parts = []
    for i, profile in enumerate(fleet.plugins[:10]):
        series = [(s.INSTALLS, "operation=install,outcome=committed", 1 + i % 2),
                  (s.INSTALLS, "operation=update,outcome=committed", i % 3),
                  (s.DENIALS, f"operation=network,profile={profile.plugin_type}", 5 * (i % 4))]
        if i % 5 == 0:
            series += [(s.INSTALLS, "operation=update,outcome=rolled_back", 1),
                       (s.ROLLBACK_EVENTS, "phase=health-check,reason=HEALTH_CHECK_FAILED", 1)]
        for metric, labels, count in series:
            parts.append(pd.DataFrame({s.TIMESTAMP: ts, s.PLUGIN: profile.name, s.METRIC: metric,
                                       s.LABELS: labels,
                                       s.VALUE: np.floor(days * count).astype("float64")}))
    return pd.concat(parts, ignore_index=True)[list(s.OPERATION_COLUMNS)]


def telemetry(fleet: Fleet) -> s.Telemetry:
    frames = list(plugin_frames(fleet))
    executions = pd.concat(frames, ignore_index=True) if frames else s.empty_executions()
    return s.Telemetry(s.normalise_executions(executions), operations(fleet))



def demo_fleet(plugins: int, days: int, end_s: float, seed: int = 7) -> Fleet:
    """A fleet with one incident of each kind in its last week, for the demo and the docs."""
    profiles_ = profiles(plugins, seed)
    day = 86400
    incidents = []
    kinds = (("cost", 3 * 3600, 3.0), ("errors", 2 * 3600, 0.08), ("latency_tail", 3 * day, 0.05))
    for offset, (kind, length, magnitude) in enumerate(kinds):
        target = profiles_[(offset * 3 + 1) % len(profiles_)]
        start = end_s - (2 + 2 * offset) * day + 5 * 3600
        incidents.append(Incident(target.name, kind, start, start + length, magnitude))
    return Fleet(end_s - days * day, end_s, 60, profiles_, tuple(incidents), seed=seed,
                 cost_cycle=0.2)


def main() -> None:
    import argparse
    import time
    from pathlib import Path

    from collector import openmetrics

    parser = argparse.ArgumentParser(description="Write a synthetic fleet's telemetry as "
                                     "OpenMetrics (one incident of each kind in its last week).")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--plugins", type=int, default=12)
    parser.add_argument("--days", type=int, default=15)
    args = parser.parse_args()
    end = time.time() // 3600 * 3600
    openmetrics.write_file(telemetry(demo_fleet(args.plugins, args.days, end)), args.out,
                           {"job": "pluginops-runtime", "instance": "demo:9400"})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
