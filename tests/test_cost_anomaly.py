"""The cost detector weighs each hour by the successes behind it, learns the week as well as the
day, reports a level shift once and a slow leak while it grows, and keeps immaterial anomalies
out of alerts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alerts.rules import COST_Z
from contracts.codes import Code
from contracts.errors import PluginopsError
from evaluator.cost_anomaly import HOUR_OF_DAY, HOUR_OF_WEEK, CostDetector, score_costs
from evaluator.cost_episodes import cost_anomalies, spans
from evaluator.materiality import Floor, Materiality, load_materiality
from evaluator.results import Anomaly

MONDAY = 1_790_208_000  # 00:00 UTC
DAY = 24
DETECTOR = CostDetector(threshold=COST_Z)
PLUGINOPS = str(Path(sys.executable).parent / "pluginops")


def hourly(seed: int, days: int, calls_per_hour: float, unit: np.ndarray | float,
           cv: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Poisson successes and per-call lognormal costs (mean `unit` for each hour)."""
    rng = np.random.default_rng(seed)
    hours = days * DAY
    n = rng.poisson(calls_per_hour, hours).astype("float64")
    unit = np.broadcast_to(np.asarray(unit, dtype="float64"), (hours,))
    sigma = np.sqrt(np.log(1 + cv ** 2))
    cost = np.array([rng.lognormal(np.log(u) - sigma ** 2 / 2, sigma, int(k)).sum()
                     for k, u in zip(n, unit, strict=True)])
    return n, cost


def reported(n: np.ndarray, cost: np.ndarray, from_hour: int = 14 * DAY) -> list[tuple[int, int]]:
    scores = score_costs(n, cost, MONDAY, DETECTOR)
    return [(first, end) for first, end, _ in spans(scores, n, cost, DETECTOR)
            if end >= from_hour]


def test_a_quiet_plugins_noisy_hours_are_not_anomalies() -> None:
    """Three calls an hour with a per-call spread of 1.2: single hours at 3x the usual cost per
    success happen every few days by chance alone."""
    n, cost = hourly(1, 28, 3.0, 0.01, cv=1.2)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = cost / n
    assert np.nansum(unit[14 * DAY:] > 0.03) >= 5  # the noise is there
    assert reported(n, cost) == []


def test_a_busy_plugins_small_shift_is_an_anomaly() -> None:
    """Five thousand calls an hour: 8% dearer for six hours is far outside sampling noise."""
    unit = np.full(28 * DAY, 0.01)
    unit[20 * DAY + 10:20 * DAY + 16] *= 1.08
    n, cost = hourly(2, 28, 5000.0, unit, cv=0.5)
    ((first, end),) = reported(n, cost)
    assert first == 20 * DAY + 10 and abs(end - (20 * DAY + 15)) <= 1


def test_a_quiet_plugin_is_judged_over_a_day_of_calls() -> None:
    """Four calls an hour, 1.8x dearer for a day: no single hour proves it, the day does."""
    unit = np.full(28 * DAY, 0.02)
    unit[18 * DAY:19 * DAY] *= 1.8
    n, cost = hourly(3, 28, 4.0, unit, cv=0.6)
    found = reported(n, cost)
    assert len(found) == 1
    first, end = found[0]
    assert 18 * DAY <= first <= 19 * DAY and end <= 19 * DAY + 6
    scores = score_costs(n, cost, MONDAY, DETECTOR)
    assert scores.scale[first] > 1


def test_a_weekly_cost_cycle_is_learned_after_two_weeks() -> None:
    """Weekends cost 40% more per success: with two weeks of history the baseline is the hour of
    the week and the third and fourth weekends are normal."""
    weekend = (np.arange(28 * DAY) // DAY) % 7 >= 5
    n, cost = hourly(4, 28, 300.0, np.where(weekend, 0.014, 0.01), cv=0.5)
    scores = score_costs(n, cost, MONDAY, DETECTOR)
    assert scores.baseline[13 * DAY] == HOUR_OF_DAY
    assert scores.baseline[14 * DAY] == HOUR_OF_WEEK
    assert reported(n, cost) == []
    # the same hour of the day alone calls every weekend an anomaly
    daily_only = CostDetector(threshold=COST_Z, weekly_after_days=10**6)
    flagged = score_costs(n, cost, MONDAY, daily_only)
    assert len(spans(flagged, n, cost, daily_only)) >= 2


def test_a_level_shift_is_reported_once_at_its_start_then_is_normal() -> None:
    unit = np.full(28 * DAY, 0.01)
    shift = 16 * DAY + 9
    unit[shift:] *= 1.6
    n, cost = hourly(5, 28, 200.0, unit, cv=0.7)
    found = reported(n, cost)
    assert len(found) == 1
    assert shift <= found[0][0] <= shift + 2
    scores = score_costs(n, cost, MONDAY, DETECTOR)
    assert scores.level[-1] == pytest.approx(0.016, rel=0.08)  # the new normal
    anomaly = _anomalies(n, cost)[0]
    assert anomaly.shape == "level_shift"


def test_a_slow_leak_is_found_while_it_grows() -> None:
    """The cost per success climbs from 1x to 2x over 48 hours: found before it reaches 1.5x."""
    unit = np.full(28 * DAY, 0.01)
    leak = 17 * DAY
    unit[leak:leak + 48] *= np.linspace(1.0, 2.0, 48)
    unit[leak + 48:leak + 72] *= 2.0
    n, cost = hourly(6, 28, 60.0, unit, cv=0.7)
    found = [(first, end) for first, end in reported(n, cost) if end >= leak]
    assert len(found) == 1
    assert leak <= found[0][0] < leak + 24


def _anomalies(n: np.ndarray, cost: np.ndarray, floor: Floor | None = None
               ) -> list[Anomaly]:
    scores = score_costs(n, cost, MONDAY, DETECTOR)
    cells = MONDAY * 1000 + np.arange(len(n) + 1) * 3_600_000
    return cost_anomalies(scores, n, cost, 14 * DAY, floor or Floor(), DETECTOR, str, cells)


def test_an_anomaly_carries_its_impact_share_and_shape() -> None:
    unit = np.full(28 * DAY, 0.02)
    unit[20 * DAY + 3:20 * DAY + 6] *= 3.0
    n, cost = hourly(7, 28, 1000.0, unit, cv=0.5)
    (anomaly,) = _anomalies(n, cost)
    extra = 2.0 * 0.02 * n[20 * DAY + 3:20 * DAY + 6].sum()  # (3 - 1) x usual x successes
    assert anomaly.impact_usd == pytest.approx(extra, rel=0.05)
    assert anomaly.share == pytest.approx(extra / cost[14 * DAY:].sum(), rel=0.05)
    assert anomaly.shape == "spike" and anomaly.baseline == HOUR_OF_WEEK
    assert anomaly.material


def test_an_anomaly_under_the_floor_is_listed_as_minor() -> None:
    unit = np.full(28 * DAY, 0.0001)
    unit[20 * DAY + 3:20 * DAY + 6] *= 3.0
    n, cost = hourly(7, 28, 1000.0, unit, cv=0.5)
    (anomaly,) = _anomalies(n, cost)  # about 60 cents of extra spend
    assert anomaly.impact_usd < 1.0 and not anomaly.material
    (cheap,) = _anomalies(n, cost, Floor(usd=0.1, share=0.0))
    assert cheap.material


def test_floors_by_plugin_then_type_then_default(tmp_path: Path) -> None:
    path = tmp_path / "materiality.yaml"
    path.write_text("default: {usd: 2}\ntypes:\n  agent: {usd: 10, share: 0.02}\n"
                    "plugins:\n  nightly: {usd: 0.5}\n")
    floors = load_materiality(path)
    assert floors.floor("nightly", "agent") == Floor(usd=0.5, share=0.005)
    assert floors.floor("chatty", "agent") == Floor(usd=10.0, share=0.02)
    assert floors.floor("other", "node") == Floor(usd=2.0, share=0.005)
    assert Materiality().floor("any", "node") == Floor()


@pytest.mark.parametrize("text", [
    "default: {usd: -1}", "default: {dollars: 3}", "types: [agent]", "plugins: {p: {usd: .inf}}",
    "default: {usd: yes}", "- 1", "other: {}", "default: {usd: 1", "\x00",
])
def test_a_bad_materiality_file_is_refused_with_its_code(tmp_path: Path, text: str) -> None:
    path = tmp_path / "materiality.yaml"
    path.write_text(text)
    with pytest.raises(PluginopsError) as refused:
        load_materiality(path)
    assert refused.value.code == Code.MATERIALITY_INVALID
    assert refused.value.where.startswith(str(path))


def test_the_weekly_report_refuses_a_bad_materiality_file_before_any_work(
        tmp_path: Path) -> None:
    path = tmp_path / "materiality.yaml"
    path.write_text("default: {usd: -1}")
    out = tmp_path / "report"
    done = subprocess.run([PLUGINOPS, "report", "weekly", "--parquet", str(tmp_path / "none"),
                           "--out", str(out), "--materiality", str(path), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "MATERIALITY_INVALID" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
