"""One plugin's counters, ready for PromQL-exact arithmetic: per column, the samples that exist
(NaN rows dropped, as Prometheus stores only what was scraped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from collector import schema as s
from evaluator.promql import RateGeometry, extrapolated_rate, reset_adjustments


@dataclass(frozen=True)
class Samples:
    ts: np.ndarray  # int64 ms, ascending
    values: np.ndarray  # float64

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
        return self._monotone[np.maximum(index, 0)]

    def increase(self, start_ms: int, end_ms: int) -> float:
        """Counted events in (start, end]."""
        levels = self.level(np.array([start_ms, end_ms]))
        return float(levels[1] - levels[0])


@dataclass(frozen=True)
class PluginSeries:
    plugin: str
    plugin_type: str
    columns: dict[str, Samples]
    _geometry: dict[tuple[int, int, int, int, int], RateGeometry] = field(
        default_factory=dict, repr=False, compare=False)
    _rates: dict[tuple[str, int, int, int, int], np.ndarray] = field(
        default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> PluginSeries:
        ts = frame[s.TIMESTAMP].to_numpy(dtype="int64")
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        columns = {}
        for column in s.VALUE_COLUMNS:
            values = frame[column].to_numpy(dtype="float64")[order]
            keep = ~np.isnan(values)
            if keep.all():  # share one timestamp array, so window bounds are found once
                columns[column] = Samples(ts, values)
            elif keep.any():
                columns[column] = Samples(ts[keep], values[keep])
        return cls(str(frame[s.PLUGIN].iat[0]), str(frame[s.PLUGIN_TYPE].iat[0]), columns)

    @cached_property
    def first_ms(self) -> int | None:
        firsts = [int(c.ts[0]) for c in self.columns.values() if len(c.ts)]
        return min(firsts) if firsts else None

    @cached_property
    def sample_interval_ms(self) -> float:
        intervals = [float(np.median(np.diff(c.ts))) for c in self.columns.values()
                     if len(c.ts) > 1]
        return max(intervals) if intervals else 0.0

    def has(self, column: str) -> bool:
        return column in self.columns

    def rate(self, column: str, evals: np.ndarray, range_ms: int) -> np.ndarray:
        samples = self.columns.get(column)
        if samples is None:
            return np.full(np.shape(evals), np.nan)
        evals = np.asarray(evals, dtype="int64")
        # Evaluation instants are a single instant or a regular grid: its ends and length name it.
        shape = (len(evals), int(evals[0]), int(evals[-1]), range_ms)
        cached = self._rates.get((column, *shape))
        if cached is not None:
            return cached
        geometry = self._geometry.get((id(samples.ts), *shape))
        if geometry is None:
            geometry = RateGeometry.of(samples.ts, evals, range_ms)
            self._geometry[(id(samples.ts), *shape)] = geometry
        rate = samples.rate(evals, range_ms, geometry)
        self._rates[(column, *shape)] = rate
        return rate

    def summed_rate(self, columns: tuple[str, ...], evals: np.ndarray, range_ms: int
                    ) -> np.ndarray:
        """`sum(rate(...))` over several series: NaN only where none of them has a rate."""
        rates = [self.rate(c, evals, range_ms) for c in columns if c in self.columns]
        if not rates:
            return np.full(np.shape(evals), np.nan)
        stacked = np.vstack(rates)
        return np.where(np.isnan(stacked).all(axis=0), np.nan, np.nansum(stacked, axis=0))

    def deltas(self, column: str, grid: np.ndarray) -> np.ndarray:
        """Events between consecutive grid instants (len(grid) - 1 values)."""
        samples = self.columns.get(column)
        if samples is None:
            return np.full(len(grid) - 1, np.nan)
        return np.diff(samples.level(grid))

    def increase(self, column: str, start_ms: int, end_ms: int) -> float:
        samples = self.columns.get(column)
        return float("nan") if samples is None else samples.increase(start_ms, end_ms)
