"""What one `evaluate --serve --prometheus` cycle asks the store for, kept between cycles
(`collector.rolling.RollingTelemetry`) against fetching the whole span every cycle (what the
evaluator did before), on a real Prometheus holding the samples (backfilled with promtool):

1. cost per cycle at fleet scale: `--plugins` (1,000) plugins over `--span-hours` of one-minute
   data; requests, points and seconds of an incremental cycle against a full fetch of the span,
   timed in the same run;
2. memory over a day of cycles: `--day-plugins` (50) plugins over 26 hours, a span of two hours,
   1,440 one-minute cycles; the resident set size after the first hour, at noon and at the end,
   and the points kept.

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=1000)
    parser.add_argument("--span-hours", type=float, default=2.0)
    parser.add_argument("--day-plugins", type=int, default=50)
    args = parser.parse_args()
    fleet_scale(args.plugins, args.span_hours)
    print(f"a day of one-minute cycles, {args.day_plugins} plugins, span 2 h:")
    day_of_cycles(args.day_plugins)


if __name__ == "__main__":
    main()
