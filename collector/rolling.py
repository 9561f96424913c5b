"""Telemetry kept between evaluation cycles (`evaluate --serve --prometheus`): the raw series of
the evaluated span stay in memory, and each cycle asks the store only for what is new since the
last one, plus a short overlap (`settle_s`) for samples that reach the store late (a scrape
that lands after the instant it is stamped with). Points older than the span are dropped, so
memory follows the span and the fleet's size, not the number of cycles.

A cycle costs one range request per queried family (`QUERIES`, 9) over `interval + settle`
seconds, whatever the fleet's size; a first cycle (or one after a gap longer than the span, or a
restart without a state file) fetches the whole span. Beside a store that records the SLO rules
(`fine_s`), only the last hours are kept at every step and older points one an hour, fetched at
that step. The state can be saved to a Parquet file (one row per point: family, labels,
timestamp, value) and loaded on start, so a restarted evaluator does not fetch the span again."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from collector import schema as s
from collector.assemble import Assembler
from collector.prometheus import QUERIES, PrometheusClient
from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.files import atomic_writer

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]  # family, sorted labels
STATE_FORMAT = 1
# Against a store that records the SLO rules: every step for the last 7 hours (the 6-hour
# window's rate and the 30-minute quantiles), one point an hour before (hourly baselines, week
# and month trends and regressions read levels on an hourly grid).
FINE_S = 7 * 3600.0


@dataclass
class CycleCost:
    """What the last refresh asked the store for."""
    requests: int = 0
    points: int = 0
    start_s: float = 0.0
    end_s: float = 0.0
    full: bool = True


@dataclass
class RollingTelemetry:
    client: PrometheusClient
    span_s: float  # how far back an evaluation reads
    step_s: float = 60.0
    settle_s: float = 120.0
    # With `fine_s`, only the last `fine_s` seconds keep every step; older points are thinned
    # to one per `coarse_s` (on the clock's hours), and a first cycle fetches them at that step.
    fine_s: float | None = None
    coarse_s: float = 3600.0
    last: CycleCost = field(default_factory=CycleCost)
    _series: dict[SeriesKey, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _end_s: float | None = None
    _thinned_ms: int = 0  # points before this are already one per `coarse_s`

    @property
    def end_s(self) -> float | None:
        return self._end_s

    @property
    def series(self) -> list[SeriesKey]:
        return list(self._series)

    @property
    def points(self) -> int:
        return sum(len(ts) for ts, _ in self._series.values())

    def coarse_before_s(self, end_s: float) -> float | None:
        """Points before this instant are one per `coarse_s` (None: none are)."""
        if self.fine_s is None:
            return None
        return math.floor((end_s - self.fine_s) / self.coarse_s) * self.coarse_s

    def refresh(self, end_s: float) -> s.Telemetry:
        """The telemetry of [end - span, end], fetching only what this object lacks."""
        self.update(end_s)
        return self.telemetry()

    def update(self, end_s: float) -> None:
        """Fetch what is new up to `end_s` and drop what left the span."""
        end = math.floor(end_s / self.step_s) * self.step_s
        grain = self.step_s if self.fine_s is None else self.coarse_s
        first = math.floor((end - self.span_s) / grain) * grain  # covers the whole span
        full = self._end_s is None or self._end_s < first or end < self._end_s
        start = first if full else max(first, self._end_s - self.settle_s)  # type: ignore[operator]
        if full:
            self._series.clear()
            self._thinned_ms = 0
        requests_before = self.client.requests
        points = 0
        ranges = [(start, end, self.step_s)]
        boundary = self.coarse_before_s(end)
        if full and boundary is not None and boundary > start:  # the old part, coarsely
            ranges = [(start, boundary - self.coarse_s, self.coarse_s),
                      (boundary, end, self.step_s)]
        for lo, hi, step in ranges:
            if hi < lo:
                continue
            for query, name in QUERIES:
                for labels, ts, values in self.client.query_range(query, lo, hi, step):
                    points += len(ts)
                    self._merge((name, tuple(sorted(labels.items()))), ts, values,
                                round(lo * 1000))
        self._trim(round(first * 1000), None if boundary is None else round(boundary * 1000))
        self._end_s = end
        self.last = CycleCost(self.client.requests - requests_before, points, start, end, full)

    def _merge(self, key: SeriesKey, ts: np.ndarray, values: np.ndarray, from_ms: int) -> None:
        """Points from `from_ms` on replace what was kept there (the overlap is re-read)."""
        kept = self._series.get(key)
        if kept is not None:
            older = kept[0] < from_ms
            ts = np.concatenate([kept[0][older], ts])
            values = np.concatenate([kept[1][older], values])
        self._series[key] = (ts, values)

    def _trim(self, first_ms: int, coarse_before_ms: int | None) -> None:
        """Drop what left the span; thin what has become old to the clock's hours (only the
        points that became old since the last cycle are looked at)."""
        coarse_ms = round(self.coarse_s * 1000)
        for key, (ts, values) in list(self._series.items()):
            cut = int(np.searchsorted(ts, first_ms))
            if cut >= len(ts):
                del self._series[key]  # the series ended before the span: it is gone
                continue
            lo = hi = cut
            if coarse_before_ms is not None:
                lo = max(cut, int(np.searchsorted(ts, self._thinned_ms)))
                hi = max(lo, int(np.searchsorted(ts, coarse_before_ms)))
            off_grid = ts[lo:hi] % coarse_ms != 0
            if cut == 0 and not off_grid.any():
                continue
            on_grid = np.flatnonzero(~off_grid) + lo
            index = np.concatenate([np.arange(cut, lo), on_grid, np.arange(hi, len(ts))])
            self._series[key] = (ts[index], values[index])  # copies: frees the old arrays
        if coarse_before_ms is not None:
            self._thinned_ms = coarse_before_ms

    def telemetry(self) -> s.Telemetry:
        assembler = Assembler()
        for (name, labels), (ts, values) in self._series.items():
            assembler.add(name, dict(labels), ts, values)
        return assembler.telemetry()

    # --- the state file -------------------------------------------------------------------

    def _meta(self) -> dict[str, object]:
        return {"format": STATE_FORMAT, "source": self.client.url, "step": self.step_s,
                "fine": self.fine_s, "coarse": self.coarse_s}

    def save(self, path: Path) -> None:
        """Write the kept series (atomically: a reader sees the old state or the new one)."""
        keys = list(self._series)
        lengths = [len(self._series[k][0]) for k in keys]
        names = np.repeat(np.array([k[0] for k in keys], dtype=object), lengths)
        labels = np.repeat(np.array([json.dumps(k[1]) for k in keys], dtype=object), lengths)
        table = pa.table({
            "family": pa.array(names, pa.string()).dictionary_encode(),
            "labels": pa.array(labels, pa.string()).dictionary_encode(),
            "timestamp": pa.array(np.concatenate([self._series[k][0] for k in keys])
                                  if keys else np.array([], "int64"), pa.int64()),
            "value": pa.array(np.concatenate([self._series[k][1] for k in keys])
                              if keys else np.array([], "float64"), pa.float64()),
        })
        meta = {**self._meta(), "end": self._end_s}
        table = table.replace_schema_metadata({"pluginops": json.dumps(meta)})
        with atomic_writer(path, 0o600) as tmp:
            pq.write_table(table, tmp, compression="zstd")

    def load(self, path: Path) -> bool:
        """Take the series of a state file written for the same store and step; False (and
        nothing taken) when there is none or it belongs to another source."""
        if not path.exists():
            return False
        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {})[b"pluginops"])
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            raise PluginopsError(Code.STATE_FILE_INVALID, f"{path} is not an evaluator state "
                                 f"file: {exc}", where=str(path),
                                 next_step="delete it (the next cycle fetches the whole span "
                                           "again) or point --state elsewhere") from None
        if any(meta.get(k) != v for k, v in self._meta().items()) or meta.get("end") is None:
            return False
        frame = table.to_pandas()
        self._series.clear()
        for (name, labels), group in frame.groupby(["family", "labels"], sort=False,
                                                   observed=True):
            key = (str(name), tuple(tuple(pair) for pair in json.loads(str(labels))))
            order = np.argsort(group["timestamp"].to_numpy(), kind="stable")
            self._series[key] = (group["timestamp"].to_numpy()[order],
                                 group["value"].to_numpy()[order])
        self._end_s = float(meta["end"])
        return True
