"""What one `evaluate --serve --prometheus` cycle asks the store for, kept between cycles
(`collector.rolling.RollingTelemetry`) against fetching the whole span every cycle (what the
evaluator did before), on a real Prometheus holding the samples (backfilled with promtool):

1. cost per cycle at fleet scale: `--plugins` (1,000) plugins over `--span-hours` of one-minute
   data; requests, points and seconds of an incremental cycle against a full fetch of the span,
   timed in the same run;
2. memory over a day of cycles: `--day-plugins` (50) plugins over 26 hours, a span of two hours,
   1,440 one-minute cycles; the resident set size after the first hour, at noon and at the end,
   and the points kept;
3. the evaluation of one cycle at fleet scale over the whole span (60 days) as the serve loop
   keeps it beside a store that records the SLO rules (every step for 7 hours, one point an
   hour before, levels interpolated): `--plugins` plugins, against evaluating the same plugins
   from every one-minute point (timed on `--full-plugins` of them, the rest extrapolated).

    .venv/bin/python bench/evaluator_serve_bench.py [--plugins 1000] [--span-hours 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector import openmetrics
from collector import synthetic as syn
from collector.prometheus import QUERIES, PrometheusClient
from collector.rolling import RollingTelemetry
from stack.backfill import MAX_BLOCK
from stack.processes import prometheus, require

CONFIG = "global:\n  scrape_interval: 1m\n"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def store(folder: Path, plugins: int, hours: float, end: int):  # type: ignore[no-untyped-def]
    import subprocess

    fleet = syn.Fleet(end - hours * 3600, end, 60, syn.profiles(plugins, seed=2), seed=3,
                      operations=False)
    path = folder / "fleet.om"
    openmetrics.write_file(syn.telemetry(fleet), path,
                           {"job": "pluginops-runtime", "instance": "host-a:9400"})
    subprocess.run([require("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                    MAX_BLOCK, str(path), str(folder / "prom" / "tsdb")], check=True,
                   capture_output=True)
    path.unlink()
    return prometheus(folder / "prom", CONFIG, [])


def fleet_scale(plugins: int, span_h: float) -> None:
    end = (int(time.time()) // 3600 - 2) * 3600
    with tempfile.TemporaryDirectory() as tmp, store(Path(tmp), plugins, span_h + 0.5,
                                                     end) as url:
        client = PrometheusClient(url)
        rolling = RollingTelemetry(client, span_h * 3600, 60.0)
        rolling.update(end - 60)
        started = time.perf_counter()
        rolling.update(end)
        incremental_s = time.perf_counter() - started
        cycle = rolling.last
        before = client.requests
        started = time.perf_counter()
        full_points = 0
        for query, _ in QUERIES:  # what a cycle fetched before: the whole span
            for _, ts, _ in client.query_range(query, end - span_h * 3600, end, 60.0):
                full_points += len(ts)
        full_s = time.perf_counter() - started
        full_requests = client.requests - before
        started = time.perf_counter()
        telemetry = rolling.telemetry()
        assemble_s = time.perf_counter() - started
        print(f"{plugins} plugins, {len(rolling.series)} series, span {span_h:g} h at 60 s:")
        print(f"  incremental fetch: {cycle.requests} requests, {cycle.points:,} points, "
              f"{incremental_s:.2f} s")
        print(f"  full fetch:        {full_requests} requests, {full_points:,} points, "
              f"{full_s:.2f} s")
        print(f"  ratio full/incremental: {full_s / incremental_s:.1f}x time, "
              f"{full_points / max(cycle.points, 1):.0f}x points")
        print(f"  building the evaluator's frame from the kept series (every cycle, either "
              f"way): {assemble_s:.2f} s, {len(telemetry.executions):,} rows")


def day_of_cycles(plugins: int) -> None:
    end = (int(time.time()) // 3600 - 2) * 3600
    start = end - 24 * 3600
    with tempfile.TemporaryDirectory() as tmp, store(Path(tmp), plugins, 26, end) as url:
        rolling = RollingTelemetry(PrometheusClient(url), 2 * 3600, 60.0)
        marks = {60: "after 1 h", 720: "at 12 h", 1440: "at 24 h"}
        started = time.perf_counter()
        for cycle in range(1, 1441):
            rolling.refresh(start + cycle * 60)  # and the frame an evaluation reads
            if cycle in marks:
                print(f"  {marks[cycle]:>9}: RSS {rss_mb():7.1f} MB, {rolling.points} points "
                      f"kept, {rolling.last.requests} requests per cycle")
        print(f"  1,440 cycles in {time.perf_counter() - started:.0f} s")


def coarse_cycle(plugins: int, full_plugins: int) -> None:
    import gc

    from alerts.spec import load_slos
    from collector import schema as s
    from collector.rolling import FINE_S
    from evaluator.plugin import Settings, evaluate_plugin
    from evaluator.run import lookback_s
    from evaluator.series import PluginSeries

    repo = Path(__file__).resolve().parent.parent
    slos = load_slos(repo / "alerts" / "slos")
    settings = Settings()
    span = lookback_s(slos, settings)
    at = 1_790_006_400
    fleet = syn.Fleet(at - span, at, 60, syn.profiles(plugins, seed=2), seed=3,
                      operations=False)
    coarse_settings = Settings(interpolate_gaps_s=3600.0)
    fine_from = (at - FINE_S) * 1000
    kept_points = fine_points = 0
    coarse_s = full_s = 0.0
    base = rss_mb()
    for index, profile in enumerate(fleet.plugins):
        frame = syn.plugin_frame(fleet, profile, index)
        ts = frame[s.TIMESTAMP].to_numpy()
        thin = frame[(ts % 3_600_000 == 0) | (ts >= fine_from)]
        values = len(s.VALUE_COLUMNS)
        kept_points += len(thin) * values
        fine_points += len(frame) * values
        started = time.perf_counter()
        evaluate_plugin(PluginSeries.from_frame(thin, 3600.0), slos, at * 1000,
                        coarse_settings)
        coarse_s += time.perf_counter() - started
        if index < full_plugins:
            started = time.perf_counter()
            evaluate_plugin(PluginSeries.from_frame(frame), slos, at * 1000, settings)
            full_s += time.perf_counter() - started
        del frame, thin
        if index % 200 == 199:
            gc.collect()
    full_estimate = full_s / min(full_plugins, plugins) * plugins
    print(f"{plugins} plugins over {span / 86400:.0f} days, one cycle's evaluation:")
    print(f"  kept as serve keeps it: {kept_points:,} values ({kept_points * 16 / 2**20:,.0f} MB "
          f"as timestamp+value arrays), evaluated in {coarse_s:.1f} s")
    print(f"  every one-minute point: {fine_points:,} values ({fine_points * 16 / 2**30:,.1f} GB), "
          f"evaluated in about {full_estimate:.0f} s ({full_plugins} plugins timed)")
    print(f"  ratio: {fine_points / kept_points:.0f}x fewer values, "
          f"{full_estimate / coarse_s:.1f}x faster; RSS grew {rss_mb() - base:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=1000)
    parser.add_argument("--span-hours", type=float, default=2.0)
    parser.add_argument("--day-plugins", type=int, default=50)
    parser.add_argument("--full-plugins", type=int, default=20)
    parser.add_argument("--skip", default="", help="comma-separated phases to skip (1,2,3)")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    if "3" not in skip:
        coarse_cycle(args.plugins, args.full_plugins)
    if "1" in skip:
        return
    fleet_scale(args.plugins, args.span_hours)
    if "2" not in skip:
        print(f"a day of one-minute cycles, {args.day_plugins} plugins, span 2 h:")
        day_of_cycles(args.day_plugins)


if __name__ == "__main__":
    main()
