"""Evaluator speed and memory at fleet scale, next to Prometheus computing the same budgets.

1. A synthetic fleet (default 1,000 plugins x 30 days at one-minute resolution: 43.2 million
   rows) is written to a Parquet cache (not timed).
2. The full evaluation (every SLO window, budgets, latency, cost anomalies, regressions, trends,
   fleet roll-up) runs over it with 2 worker processes: wall time and peak memory.
3. Baseline in the same run: for the first `--prometheus-plugins` plugins, the executions are
   backfilled into a real Prometheus (promtool), which computes each plugin's 30-day
   availability budget from the raw counters; the evaluator computes the same budgets over the
   same plugins. Both timings and their ratio are printed.

    python bench/evaluator_bench.py [--plugins 1000] [--days 30] [--prometheus-plugins 50]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts import conventions as c
from alerts.spec import load_slos
from collector import parquet
from collector import schema as s
from collector import synthetic as syn
from collector.source import Source
from contracts.catalogue import PLUGIN_EXECUTIONS
from evaluator import slo as slo_math
from evaluator.plugin import Settings
from evaluator.run import evaluate_source
from evaluator.series import PluginSeries
from stack.processes import get_json, prometheus
from tests.evaluator_support import backfill_openmetrics

REPO = Path(__file__).resolve().parent.parent
BUDGET_QUERY = (
    "1 - (sum by (plugin) (increase({name}{{outcome!=\"success\"}}[30d]))"
    " / sum by (plugin) (increase({name}[30d]))) / (1 - 0.999)")


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


class TreePeak:
    """Peak resident memory of every descendant process (the evaluator's workers are children
    of multiprocessing's fork server, which getrusage does not count): samples /proc and keeps
    each process's high-water mark (VmHWM)."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.1):
            parents: dict[int, int] = {}
            marks: dict[int, float] = {}
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                parents[int(entry.name)] = int(fields["PPid"])
                if "VmHWM" in fields:
                    marks[int(entry.name)] = int(fields["VmHWM"].split()[0]) / 1024
            for pid, mark in marks.items():
                chain, seen = pid, 0
                while chain not in (0, 1, me) and seen < 64:
                    chain, seen = parents.get(chain, 0), seen + 1
                if chain == me and pid != me:
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), mark)


def write_fleet(fleet: syn.Fleet, folder: Path) -> int:
    rows = 0
    with parquet.writing(folder, {"start": fleet.start_s, "end": fleet.end_s}) as writer:
        for index, frame in enumerate(syn.plugin_frames(fleet)):
            writer.add_executions(frame)
            rows += len(frame)
            if index % 100 == 99:
                print(f"  generated {index + 1} plugins", file=sys.stderr)
        writer.close(syn.operations(fleet))
    return rows


def prometheus_baseline(fleet: syn.Fleet, count: int, folder: Path, at: float) -> float:
    """Seconds Prometheus takes to compute `count` plugins' 30-day budgets (median of 3)."""
    source = folder / "executions.om"
    with source.open("w") as out:
        out.write(f"# TYPE {PLUGIN_EXECUTIONS.name.removesuffix('_total')} counter\n")
        for index, profile in enumerate(fleet.plugins[:count]):
            frame = syn.plugin_frame(fleet, profile, index)
            ts = (frame[s.TIMESTAMP] / 1000).map("{:.3f}".format).to_numpy()
            for column in s.OUTCOME_COLUMNS:
                head = (f'{PLUGIN_EXECUTIONS.name}{{plugin="{profile.name}",outcome="'
                        f'{column.removeprefix("executions_")}",job="{c.RUNTIME_JOB}"}} ')
                values = frame[column].map(repr).to_numpy()
                out.writelines(f"{head}{v} {t}\n" for v, t in zip(values, ts, strict=True))
        out.write("# EOF\n")
    tsdb = folder / "prom" / "tsdb"
    started = time.perf_counter()
    backfill_openmetrics(source, tsdb)
    print(f"  backfilled {count} plugins into Prometheus in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    config = "global:\n  scrape_interval: 1m\n"
    query = BUDGET_QUERY.format(name=PLUGIN_EXECUTIONS.name)
    timings = []
    with prometheus(folder / "prom", config, []) as url:
        for _ in range(4):
            started = time.perf_counter()
            answer = get_json(f"{url}/api/v1/query?"
                              f"{urllib.parse.urlencode({'query': query, 'time': at})}",
                              timeout=600)
            timings.append(time.perf_counter() - started)
            assert len(answer["data"]["result"]) == count, answer
    return statistics.median(timings[1:])  # the first query warms the page cache


def evaluator_budgets(folder: Path, count: int, at_ms: int) -> float:
    """Seconds the evaluator takes to compute `count` plugins' 30-day availability budgets from
    the cache: one open file, only the columns the SLO reads (as Prometheus reads only the
    executions series), median of 3 after a warm-up (as for Prometheus)."""
    slos = load_slos(REPO / "alerts" / "slos")
    availability = [x for x in slos if x.kind == c.AVAILABILITY]
    columns = sorted({col for x in availability for col in slo_math.columns_for(x)})
    timings = []
    for _ in range(4):
        started = time.perf_counter()
        for table in parquet.each_table(folder, list(range(count)), columns):
            series = PluginSeries.from_arrow(table)
            slo = slo_math.governing(slos, c.AVAILABILITY, series.plugin, series.plugin_type)
            assert slo is not None
            slo_math.evaluate(series, slo, at_ms, 60_000)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugins", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--prometheus-plugins", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    at = 1_790_006_400
    fleet = syn.Fleet(at - args.days * 86400, at, 60, syn.profiles(args.plugins), seed=1)
    with tempfile.TemporaryDirectory(dir=REPO / ".pluginops" if (REPO / ".pluginops").is_dir()
                                     else None) as tmp:
        folder = Path(tmp) / "cache"
        started = time.perf_counter()
        rows = write_fleet(fleet, folder)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        print(f"fleet: {args.plugins} plugins x {args.days} days at 60 s = {rows:,} rows, "
              f"Parquet {size:,.0f} MB (written in {time.perf_counter() - started:.0f} s)")
        parent_before = peak_mb(resource.RUSAGE_SELF)
        with TreePeak() as tree:
            started = time.perf_counter()
            run = evaluate_source(Source("parquet", str(folder)),
                                  load_slos(REPO / "alerts" / "slos"), Settings(), at,
                                  workers=args.workers)
            full = time.perf_counter() - started
        assert len(run.evaluation.plugins) == args.plugins
        child = max(tree.peaks.values(), default=0.0)
        parent = peak_mb(resource.RUSAGE_SELF)
        children_total = sum(tree.peaks.values())
        print(f"full evaluation: {full:.1f} s ({full / args.plugins * 1000:.1f} ms per plugin, "
              f"{rows / full / 1e6:.1f} M rows/s) with {args.workers} workers "
              f"[goal <= 20 s]")
        print(f"peak memory: parent {parent:,.0f} MB (before {parent_before:,.0f} MB), largest "
              f"worker {child:,.0f} MB; {len(tree.peaks)} helper processes, at most "
              f"{parent + children_total:,.0f} MB together [goal <= 4096 MB]")
        count = min(args.prometheus_plugins, args.plugins)
        mine = evaluator_budgets(folder, count, at * 1000)
        theirs = prometheus_baseline(fleet, count, Path(tmp), at)
        print(f"30-day availability budgets of {count} plugins: evaluator {mine:.2f} s "
              f"(one process, reading Parquet), Prometheus {theirs:.2f} s (one query over "
              f"backfilled counters); ratio evaluator/Prometheus {mine / theirs:.2f}")
        # the machine's speed moves 2-3x between days: the full evaluation in units of the
        # same run's Prometheus query compares across days where seconds do not
        print(f"full evaluation / Prometheus' {count}-plugin budget query in the same run: "
              f"{full / theirs:.1f}")


if __name__ == "__main__":
    main()
