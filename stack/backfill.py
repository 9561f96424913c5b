"""History the live alerts need, written as OpenMetrics with a timestamp per sample and turned
into TSDB blocks by `promtool tsdb create-blocks-from openmetrics`, or imported into a
VictoriaMetrics-compatible store (never faked in the rules)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from stack.processes import require

# Hidden from --help; without it a block of 1 M samples takes 83 s instead of 1.8 s (NOTES.md).
MAX_BLOCK = "--max-block-duration=240h"


def counter_samples(name: str, labels: dict[str, str], start: float, end: float, step: float,
                    per_second: float) -> Iterable[str]:
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    t, value = start, 0.0
    while t <= end:
        yield f"{name}{{{text}}} {value:g} {t:.3f}"
        t += step
        value += per_second * step


def noisy_counter_samples(name: str, labels: dict[str, str], start: float, end: float,
                          step: float, per_second: float, spread: float = 0.2,
                          seed: int = 7) -> Iterable[str]:
    """A counter whose increments vary by +-spread, so its rate has a non-zero deviation."""
    import random

    rng = random.Random(seed)
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    t, value = start, 0.0
    while t <= end:
        yield f"{name}{{{text}}} {value:.12g} {t:.3f}"
        t += step
        value += per_second * step * (1 + rng.uniform(-spread, spread))


def gauge_samples(name: str, labels: dict[str, str], start: float, end: float, step: float,
                  value: float) -> Iterable[str]:
    text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    t = start
    while t <= end:
        yield f"{name}{{{text}}} {value:g} {t:.3f}"
        t += step


def write_blocks(families: dict[str, tuple[str, list[str]]], tsdb: Path) -> None:
    """families: metric family name -> (type, sample lines)."""
    lines = []
    for family, (kind, samples) in families.items():
        lines.append(f"# TYPE {family} {kind}")
        lines.extend(samples)
    lines.append("# EOF")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "history.om"
        source.write_text("\n".join(lines) + "\n")
        out = Path(tmp) / "blocks"
        done = subprocess.run([require("promtool"), "tsdb", "create-blocks-from", "openmetrics",
                               MAX_BLOCK, str(source), str(out)], capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"promtool backfill failed: {done.stderr[-2000:]}")
        tsdb.mkdir(parents=True, exist_ok=True)
        for block in out.iterdir():
            shutil.move(str(block), tsdb / block.name)


def import_text(families: dict[str, tuple[str, list[str]]], store_url: str,
                chunk_lines: int = 50_000) -> int:
    """Import sample lines into a VictoriaMetrics-compatible store (`/api/v1/import/prometheus`,
    the Prometheus text format with millisecond timestamps) and make them searchable at once;
    the number of samples imported."""
    count = 0
    for _family, (_kind, samples) in families.items():
        for first in range(0, len(samples), chunk_lines):
            body = "\n".join(_millis(line) for line in samples[first:first + chunk_lines])
            request = urllib.request.Request(f"{store_url}/api/v1/import/prometheus",
                                             data=(body + "\n").encode(), method="POST")
            with urllib.request.urlopen(request, timeout=120):
                pass
            count += len(samples[first:first + chunk_lines])
    with urllib.request.urlopen(f"{store_url}/internal/force_flush", timeout=60):
        pass
    return count


def _millis(line: str) -> str:
    """`name{labels} value 1700000000.123` -> `... 1700000000123`."""
    head, _, seconds = line.rpartition(" ")
    return f"{head} {round(float(seconds) * 1000)}"
