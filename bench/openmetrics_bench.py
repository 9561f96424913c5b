"""Reading an OpenMetrics file into the evaluator's tidy frames, three ways, in the same run:

1. the line reader (`collector.openmetrics.read_lines`, the evaluator's reader before the
   columnar one, kept for files the columnar reader cannot split and for exact error lines);
2. the columnar reader (`read_columnar`, what `read` uses for plain files);
3. `promtool tsdb create-blocks-from openmetrics` on the same file (it parses and also writes
   TSDB blocks: the reference a Prometheus user knows).

The file is the demo's fleet over two days (12 plugins at one minute, about 145 MB: promtool
takes minutes per hundred MB); `--days 15` is the demo's whole file (1.1 GB). Prints seconds,
MB/s and the ratios.

    .venv/bin/python bench/openmetrics_bench.py [--plugins 12] [--days 15]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from collector import openmetrics
from collector import synthetic as syn


def timed(work: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()  # type: ignore[operator]
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=12)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.om"
        end = 1_790_000_000
        fleet = syn.Fleet(end - args.days * 86400, end, 60, syn.profiles(args.plugins), seed=1)
        openmetrics.write_file(syn.telemetry(fleet), path,
                               {"job": "pluginops-runtime", "instance": "demo:9400"})
        mb = path.stat().st_size / 1e6
        lines_s, by_lines = timed(lambda: openmetrics.read_lines(path))
        columnar_s, by_columns = timed(lambda: openmetrics.read_columnar(path))
        assert by_columns is not None, "the columnar reader refused a plain file"
        pd.testing.assert_frame_equal(by_lines.executions, by_columns.executions,  # type: ignore[attr-defined]
                                      check_exact=True)
        promtool_s = float("nan")
        if shutil.which("promtool"):
            promtool_s, done = timed(lambda: subprocess.run(
                ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(path),
                 str(Path(tmp) / "blocks")], capture_output=True, text=True))
            assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    print(f"{mb:.0f} MB of OpenMetrics ({args.plugins} plugins x {args.days} days at 1 min)")
    for label, seconds in (("line reader (baseline)", lines_s), ("columnar reader", columnar_s),
                           ("promtool create-blocks-from openmetrics", promtool_s)):
        print(f"{label:<42}{seconds:>8.2f} s {mb / seconds:>8.0f} MB/s")
    print(f"columnar / line reader: {lines_s / columnar_s:.1f}x faster; "
          f"columnar / promtool: {promtool_s / columnar_s:.1f}x")


if __name__ == "__main__":
    main()
