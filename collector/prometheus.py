"""The Prometheus HTTP API for the evaluator (also VictoriaMetrics, Thanos and Mimir): instant
queries with timeouts, retries and TLS (`query_api.py`), and range queries split under the
server's 11,000-points-per-series limit, assembled into telemetry."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from collector import schema as s
from collector.assemble import Assembler
from collector.query_api import QueryApi
from contracts.catalogue import (
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    PLUGIN_TOKENS,
)
from contracts.codes import Code
from contracts.errors import PluginopsError

MAX_POINTS = 11_000  # Prometheus refuses a range query resolving more points per series
CHUNK_POINTS = 10_000

Series = tuple[dict[str, str], np.ndarray, np.ndarray]  # labels, timestamps (ms), values


def chunks(start: float, end: float, step: float, points: int = CHUNK_POINTS
           ) -> list[tuple[float, float]]:
    """[start, end] at `step` as consecutive sub-ranges of at most `points` points each, with no
    point in two sub-ranges."""
    if step <= 0 or end < start:
        raise PluginopsError(Code.RANGE_INVALID, f"range {start}..{end} step {step}",
                             where="--start/--end/--step",
                             next_step="give an end after the start and a positive step")
    total = math.floor((end - start) / step + 1e-9) + 1
    out = []
    for first in range(0, total, points):
        last = min(first + points, total) - 1
        out.append((start + first * step, start + last * step))
    return out


@dataclass
class PrometheusClient(QueryApi):
    """Instant queries (`QueryApi`) and range queries, split under the point limit."""

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        merged: dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]] = {}
        for lo, hi in chunks(start, end, step):
            data = self._get("/api/v1/query_range", {
                "query": expr, "start": f"{lo:.3f}", "end": f"{hi:.3f}", "step": f"{step:g}"})
            for item in data["result"]:
                key = tuple(sorted(item["metric"].items()))
                ts, vs = merged.setdefault(key, ([], []))
                for t, v in item["values"]:
                    ts.append(round(float(t) * 1000))
                    vs.append(float(v))
        return [(dict(k), np.asarray(ts, dtype="int64"), np.asarray(vs, dtype="float64"))
                for k, (ts, vs) in merged.items()]


HIST = PLUGIN_EXECUTION_DURATION.name

# What the collector asks for: (query, the series name its results are filed under). Raw
# counters, every series apart (hosts, versions): never `sum by` before a rate, since a sum of
# counters of different hosts resets whenever one of them restarts and mixes scrape instants.
QUERIES: tuple[tuple[str, str], ...] = tuple((name, name) for name in (
    PLUGIN_EXECUTIONS.name, f"{HIST}_bucket", f"{HIST}_count", f"{HIST}_sum",
    PLUGIN_EXECUTION_COST.name, PLUGIN_TOKENS.name,
    *(s.OPERATION_METRIC_NAMES[metric] for metric in sorted(s.OPERATION_METRIC_NAMES))))


def collect(client: PrometheusClient, start: float, end: float, step: float,
            progress: Callable[[str], None] | None = None) -> s.Telemetry:
    """Every series the evaluator reads, sampled at `step` over [start, end]. The instants are
    multiples of `step` (as Grafana aligns them), so samples scraped on that grid come back with
    their own timestamps and values, and repeated collections line up."""
    start = math.ceil(start / step) * step
    end = math.floor(end / step) * step
    assembler = Assembler()
    for query, name in QUERIES:
        if progress:
            progress(name)
        for labels, ts, values in client.query_range(query, start, end, step):
            assembler.add(name, labels, ts, values)
    return assembler.telemetry()


HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_headers(lines: list[str], where: str) -> dict[str, str]:
    """`Name: value` lines (from --header, or the environment, one per line) as headers."""
    out: dict[str, str] = {}
    for line in (part.strip() for part in lines):
        if not line:
            continue
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not HEADER_NAME.match(name) or not value or "\n" in value or \
                "\r" in value or name.lower() == "authorization":
            raise PluginopsError(
                Code.HEADER_INVALID, f"{line[:100]!r} is not a `Name: value` header",
                where=where, next_step="e.g. --header 'X-Scope-OrgID: team-a' (the "
                "Authorization header has its own option, --authorization)")
        out[name] = value
    return out
