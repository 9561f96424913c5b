"""One plugin's counters, ready for PromQL-exact arithmetic: per column, each series' samples
that exist (NaN rows dropped, as Prometheus stores only what was scraped).

A column of a fleet has several series (one per host and version). Every rate, increase and
delta is taken per series, with that series' own extrapolation and counter resets, and only
then summed: `sum(rate(x[5m]))`, never `rate(sum(x))`, exactly as the recording rules do."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collector import schema as s
from evaluator.promql import RateGeometry, extrapolated_rate, reset_adjustments


@dataclass(frozen=True)
class Samples:
    ts: np.ndarray  # int64 ms, ascending
    values: np.ndarray  # float64
    interpolate_ms: int | None = None  # see `level`

    @cached_property
    def _adjust(self) -> np.ndarray | None:
        return reset_adjustments(self.values)

    @cached_property
    def _monotone(self) -> np.ndarray:
        return self.values if self._adjust is None else self.values + self._adjust

    def rate(self, evals: np.ndarray, range_ms: int,
             geometry: RateGeometry | None = None) -> np.ndarray:
        return extrapolated_rate(self.ts, self.values, evals, range_ms, adjust=self._adjust,
                                 adjusted=True, geometry=geometry)

    def level(self, at: np.ndarray) -> np.ndarray:
        """The counter with resets added back, as of each instant: the last sample at or before
        it, or the first sample for instants before the series began (so a window that opens
        before the data counts nothing there, rather than the counter's whole past). Differences
        of levels are increases without extrapolation."""
        at = np.asarray(at, dtype="int64")
        if not len(self.ts):
            return np.full(at.shape, np.nan)
        index = np.searchsorted(self.ts, at, side="right") - 1
        level = self._monotone[np.maximum(index, 0)]
        if self.interpolate_ms is None or len(self.ts) < 2:
            return level
        # between samples `interpolate_ms` or more apart, the level grows linearly
        before = np.clip(index, 0, len(self.ts) - 2)
        gap = self.ts[before + 1] - self.ts[before]
        inside = (index >= 0) & (index < len(self.ts) - 1) & (gap >= self.interpolate_ms)
        share = (at - self.ts[before]) / np.maximum(gap, 1)
        grown = self._monotone[before] + share * (self._monotone[before + 1] -
                                                  self._monotone[before])
        return np.where(inside, grown, level)

    def increase(self, start_ms: int, end_ms: int) -> float:
        """Counted events in (start, end]."""
        levels = self.level(np.array([start_ms, end_ms]))
        return float(levels[1] - levels[0])


def _sum_present(parts: list[np.ndarray]) -> np.ndarray:
    """PromQL's `sum` over series: NaN only where no series has a value."""
    stacked = np.vstack(parts)
    return np.where(np.isnan(stacked).all(axis=0), np.nan, np.nansum(stacked, axis=0))


@dataclass(frozen=True)
class PluginSeries:
    plugin: str
    plugin_type: str
    columns: dict[str, tuple[Samples, ...]]  # column -> one Samples per series
    _geometry: dict[tuple[int, int, int, int, int], RateGeometry] = field(
        default_factory=dict, repr=False, compare=False)
    _rates: dict[tuple[str, int, int, int, int], np.ndarray] = field(
        default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, interpolate_gaps_s: float | None = None
                   ) -> PluginSeries:
        """One plugin's rows of a tidy frame (`collector.schema`)."""
        groups = (frame.groupby(s.SERIES, sort=True, observed=True)
                  if s.SERIES in frame and frame[s.SERIES].nunique() > 1 else [("", frame)])
        parts = [(group[s.TIMESTAMP].to_numpy(dtype="int64"),
                  {column: group[column].to_numpy(dtype="float64")
                   for column in s.VALUE_COLUMNS if column in group})
                 for _, group in groups]
        return cls._of(str(frame[s.PLUGIN].iat[0]), str(frame[s.PLUGIN_TYPE].iat[0]), parts,
                       interpolate_gaps_s)

    @classmethod
    def from_arrow(cls, table: pa.Table, interpolate_gaps_s: float | None = None
                   ) -> PluginSeries:
        """One plugin's rows as read from the Parquet cache, without a pandas frame between."""
        ts = table.column(s.TIMESTAMP).to_numpy()
        values = {column: table.column(column).to_numpy()
                  for column in s.VALUE_COLUMNS if column in table.column_names}
        series = table.column(s.SERIES).combine_chunks()
        codes = (series if pa.types.is_dictionary(series.type)
                 else pc.dictionary_encode(series)).indices.to_numpy(zero_copy_only=False)
        parts = []
        for code in np.unique(codes):
            rows = np.flatnonzero(codes == code) if len(codes) else codes
            parts.append((ts[rows], {column: v[rows] for column, v in values.items()}))
        return cls._of(str(table.column(s.PLUGIN)[0].as_py()),
                       str(table.column(s.PLUGIN_TYPE)[0].as_py()), parts, interpolate_gaps_s)

    @classmethod
    def _of(cls, plugin: str, plugin_type: str,
            parts: list[tuple[np.ndarray, dict[str, np.ndarray]]],
            interpolate_gaps_s: float | None) -> PluginSeries:
        """From each series' timestamps and columns (a NaN is a column not sampled there)."""
        columns: dict[str, list[Samples]] = {}
        gap = None if interpolate_gaps_s is None else round(interpolate_gaps_s * 1000)
        for ts, by_column in parts:
            order = np.argsort(ts, kind="stable")
            ts = ts[order]
            for column in s.VALUE_COLUMNS:
                if column not in by_column:  # read for some figures only
                    continue
                values = np.asarray(by_column[column], dtype="float64")[order]
                keep = ~np.isnan(values)
                if keep.all():  # share one timestamp array, so window bounds are found once
                    columns.setdefault(column, []).append(Samples(ts, values, gap))
                elif keep.any():
                    columns.setdefault(column, []).append(Samples(ts[keep], values[keep], gap))
        return cls(plugin, plugin_type,
                   {column: tuple(series) for column, series in columns.items()})

    @cached_property
    def first_ms(self) -> int | None:
        firsts = [int(c.ts[0]) for series in self.columns.values() for c in series if len(c.ts)]
        return min(firsts) if firsts else None

    @cached_property
    def sample_interval_ms(self) -> float:
        intervals = [float(np.median(np.diff(c.ts))) for series in self.columns.values()
                     for c in series if len(c.ts) > 1]
        return max(intervals) if intervals else 0.0

    def has(self, column: str) -> bool:
        return column in self.columns

    def rate(self, column: str, evals: np.ndarray, range_ms: int) -> np.ndarray:
        """`sum(rate(column[range]))` at each instant: each series' extrapolated rate, summed."""
        series = self.columns.get(column)
        if series is None:
            return np.full(np.shape(evals), np.nan)
        evals = np.asarray(evals, dtype="int64")
        # Evaluation instants are a single instant or a regular grid: its ends and length name it.
        shape = (len(evals), int(evals[0]), int(evals[-1]), range_ms)
        cached = self._rates.get((column, *shape))
        if cached is not None:
            return cached
        parts = []
        for samples in series:
            geometry = self._geometry.get((id(samples.ts), *shape))
            if geometry is None:
                geometry = RateGeometry.of(samples.ts, evals, range_ms)
                self._geometry[(id(samples.ts), *shape)] = geometry
            parts.append(samples.rate(evals, range_ms, geometry))
        rate = parts[0] if len(parts) == 1 else _sum_present(parts)
        self._rates[(column, *shape)] = rate
        return rate

    def summed_rate(self, columns: tuple[str, ...], evals: np.ndarray, range_ms: int
                    ) -> np.ndarray:
        """`sum(rate(...))` over several columns: NaN only where none of them has a rate."""
        rates = [self.rate(c, evals, range_ms) for c in columns if c in self.columns]
        if not rates:
            return np.full(np.shape(evals), np.nan)
        return _sum_present(rates)

    def deltas(self, column: str, grid: np.ndarray) -> np.ndarray:
        """Events between consecutive grid instants (len(grid) - 1 values), all series."""
        series = self.columns.get(column)
        if series is None:
            return np.full(len(grid) - 1, np.nan)
        return np.asarray(np.sum([np.diff(samples.level(grid)) for samples in series], axis=0),
                          dtype="float64")

    def increase(self, column: str, start_ms: int, end_ms: int) -> float:
        series = self.columns.get(column)
        if series is None:
            return float("nan")
        return float(sum(samples.increase(start_ms, end_ms) for samples in series))
