"""A labelled fleet of paid plugins for the cost-anomaly detector, and its scorer.

Each plugin's hourly successes and cost over four weeks (from a Monday 00:00 UTC):
- traffic from a handful to tens of thousands of calls an hour in three tiers (quiet 2-20,
  medium 20-500, busy 500-30,000), a daily cycle, weekend dips, benign growth, for some a launch
  that doubles traffic, hour-to-hour overdispersion (Gamma-Poisson counts);
- unit costs drawn call by call (lognormal, coefficient of variation 0.3 to 1.3; the sum of an
  hour's calls exactly below 400 calls, by its normal limit above), with peak pricing in working
  hours (for some only on weekdays), a weekly cost cycle (weekends dearer or cheaper), slow price
  drift and a little unexplained hour-to-hour variation. These benign changes must not be reported.
- labelled anomalies in the last two weeks (days 15 to 26), one or two on about 60% of the
  plugins, of five shapes: `spike` (1-4 h), `plateau` (6-36 h), `level_shift` (persists to the
  end; its window for matching is its first three days, so a report after that is false),
  `leak` (the unit cost climbs linearly over 24-48 h, then the fix lands) and `intermittent`
  (four to eight single-hour bursts over a day). An anomaly is labelled only when an ideal test
  that knew the baseline would see it at 6 sigma (its excess cost per call times the square root
  of its calls over the per-call spread): what no detector can see is not asked for.

`score` matches the detector's reports to the labels: a report is true when it overlaps an
anomaly's window (extended by a day: a day-long window may report just after a short spike); it
prints precision, recall and detection delay by shape and by traffic tier.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

DAY = 24
DAYS = 28
SCORED_FROM = 14 * DAY  # two weeks of history first
MONDAY = 1_790_208_000  # 2026-09-21 00:00 UTC, a Monday
SHAPES = ("spike", "plateau", "level_shift", "leak", "intermittent")
TIERS = {"quiet": (2.0, 20.0), "medium": (20.0, 500.0), "busy": (500.0, 30_000.0)}
GRACE = DAY
SHIFT_WINDOW = 3 * DAY
EXACT_CALLS = 400


@dataclass(frozen=True)
class Label:
    plugin: str
    shape: str
    start: int  # hour index
    end: int  # exclusive: the window a report must overlap
    magnitude: float


@dataclass
class Plugin:
    name: str
    plugin_type: str
    tier: str
    successes: np.ndarray
    cost: np.ndarray
    benign: list[str] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    plugin: str
    start: int
    end: int  # inclusive
    material: bool = True


def fleet(seed: int, plugins: int = 36) -> list[Plugin]:
    rng = np.random.default_rng(seed)
    hours = DAYS * DAY
    out = []
    for i in range(plugins):
        tier = list(TIERS)[i % 3]
        out.append(_plugin(rng, f"{tier}-{i:02d}", tier, hours))
    return out


def _plugin(rng: np.random.Generator, name: str, tier: str, hours: int) -> Plugin:
    h = np.arange(hours)
    hod, dow = h % DAY, (h // DAY) % 7
    weekend = dow >= 5
    low, high = TIERS[tier]
    rate = np.exp(rng.uniform(np.log(low), np.log(high)))
    benign = []
    daily = 1 + rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * (hod - 8) / DAY)
    dip = np.where(weekend, rng.uniform(0.3, 1.0), 1.0)
    growth = 1 + rng.uniform(0.0, 0.6) * h / hours
    traffic = rate * daily * dip * growth
    benign += ["daily traffic cycle", "weekend dip", "traffic growth"]
    if rng.random() < 0.15:
        traffic = traffic * np.where(h >= int(rng.integers(8, DAYS - 2)) * DAY, 2.0, 1.0)
        benign.append("launch doubles traffic")
    calls = rng.poisson(traffic * rng.gamma(20.0, 1 / 20.0, hours)).astype("float64")

    unit = np.exp(rng.uniform(np.log(0.0005), np.log(0.05))) * np.ones(hours)
    if rng.random() < 0.4:
        peak = (hod >= 8) & (hod < 18)
        if rng.random() < 0.5:
            peak &= ~weekend
            benign.append("weekday peak pricing")
        else:
            benign.append("peak pricing")
        unit = unit * np.where(peak, 1 + rng.uniform(0.2, 0.6), 1.0)
    if rng.random() < 0.3:
        unit = unit * np.where(weekend, rng.uniform(0.7, 1.3), 1.0)
        benign.append("weekly cost cycle")
    unit = unit * (1 + rng.uniform(-0.1, 0.1) * h / hours)
    benign.append("slow price drift")
    unit = unit * np.exp(rng.normal(0, 0.03, hours))
    cv = rng.uniform(0.3, 1.3)
    plugin = Plugin(name, str(rng.choice(["agent", "integration", "node", "quality_gate"])),
                    tier, calls, np.zeros(hours), benign)
    multiplier = np.ones(hours)
    if rng.random() < 0.6:
        for _ in range(1 + int(rng.random() < 0.3)):
            label = _anomaly(rng, plugin, calls, cv, multiplier)
            if label is not None:
                plugin.labels.append(label)
    plugin.cost = _costs(rng, calls, unit * multiplier, cv)
    return plugin


def _anomaly(rng: np.random.Generator, plugin: Plugin, calls: np.ndarray, cv: float,
             multiplier: np.ndarray) -> Label | None:
    """Draw shapes until one is visible at 6 sigma to an ideal test and free of overlap."""
    hours = len(calls)
    for _ in range(200):
        shape = str(rng.choice(SHAPES))
        start = int(rng.integers(15 * DAY, 26 * DAY))
        effect = np.ones(hours)
        if shape == "spike":
            length, m = int(rng.integers(1, 5)), rng.uniform(2.0, 5.0)
            effect[start:start + length] = m
            end = start + length
        elif shape == "plateau":
            length, m = int(rng.integers(6, 37)), rng.uniform(1.5, 3.0)
            effect[start:start + length] = m
            end = start + length
        elif shape == "level_shift":
            m = rng.uniform(1.4, 2.5)
            effect[start:] = m
            end = min(start + SHIFT_WINDOW, hours)
        elif shape == "leak":
            length, m = int(rng.integers(24, 49)), rng.uniform(2.0, 3.0)
            effect[start:start + length] = np.linspace(1.0, m, length)
            end = start + length
        else:
            m = rng.uniform(2.0, 5.0)
            bursts = start + rng.choice(DAY, size=int(rng.integers(4, 9)), replace=False)
            effect[bursts[bursts < hours]] = m
            end = start + DAY
        end = min(end, hours)
        touched = effect != 1.0
        if (multiplier[max(start - DAY, 0):end + DAY] != 1.0).any():
            continue  # keep anomalies of one plugin a day apart
        excess = np.sum(calls[touched] * (effect[touched] - 1.0))
        spread = cv * np.sqrt(max(np.sum(calls[touched] * effect[touched] ** 2), 1e-9))
        if excess / spread < 6.0:
            continue
        multiplier *= effect
        return Label(plugin.name, shape, start, end, float(m))
    return None


def _costs(rng: np.random.Generator, calls: np.ndarray, unit: np.ndarray, cv: float
           ) -> np.ndarray:
    sigma = np.sqrt(np.log(1 + cv ** 2))
    cost = np.zeros(len(calls))
    for t, (k, mean) in enumerate(zip(calls.astype("int64"), unit, strict=True)):
        if k == 0:
            continue
        mu = np.log(mean) - sigma ** 2 / 2
        if k <= EXACT_CALLS:
            cost[t] = rng.lognormal(mu, sigma, k).sum()
        else:
            cost[t] = max(rng.normal(k * mean, np.sqrt(k) * mean * cv), 0.0)
    return cost


@dataclass
class Score:
    precision: float
    recall: float
    true_reports: int
    false_reports: int
    found: int
    labels: int
    delay_hours: float  # median from an anomaly's start to its first report
    by_shape: dict[str, tuple[int, int]]  # found, labelled
    by_tier: dict[str, tuple[int, int, int]]  # found, labelled, false reports
    false_by_plugin: dict[str, int]
    delays: list[tuple[str, str, int]]  # shape, tier, hours to the first report, per found


def score(plugins: list[Plugin], reports: list[Report]) -> Score:
    labels = [label for p in plugins for label in p.labels]
    tier = {p.name: p.tier for p in plugins}
    found: dict[Label, int] = {}
    true = false = 0
    false_by: dict[str, int] = defaultdict(int)
    for report in reports:
        if report.start < SCORED_FROM:
            continue
        hits = [label for label in labels if label.plugin == report.plugin
                and report.start < label.end + GRACE and report.end >= label.start]
        if hits:
            true += 1
            for label in hits:
                found[label] = min(found.get(label, 10**9), report.start)
        else:
            false += 1
            false_by[report.plugin] += 1
    by_shape = {shape: (sum(1 for x in found if x.shape == shape),
                        sum(1 for x in labels if x.shape == shape)) for shape in SHAPES}
    by_tier = {t: (sum(1 for x in found if tier[x.plugin] == t),
                   sum(1 for x in labels if tier[x.plugin] == t),
                   sum(v for k, v in false_by.items() if tier[k] == t)) for t in TIERS}
    delays = [max(at - label.start, 0) for label, at in found.items()]
    return Score(true / max(true + false, 1), len(found) / max(len(labels), 1), true, false,
                 len(found), len(labels), float(np.median(delays)) if delays else float("nan"),
                 by_shape, by_tier, dict(false_by),
                 [(label.shape, tier[label.plugin], max(at - label.start, 0))
                  for label, at in found.items()])
