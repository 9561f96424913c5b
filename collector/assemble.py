"""Series in, tidy frames out: the one place that maps Prometheus series onto `collector.schema`
(used by the OpenMetrics reader and the Prometheus source alike)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from collector import schema as s
from contracts.catalogue import Label

_NOT_SERIES = ("__name__", Label.PLUGIN, Label.PLUGIN_TYPE, Label.OUTCOME, "le")


class Assembler:
    def __init__(self) -> None:
        # per key, the chunks of timestamps (ms) and values added for it
        self._executions: dict[tuple[str, str, str], tuple[list[np.ndarray], list[np.ndarray]]] \
            = defaultdict(lambda: ([], []))
        self._operations: dict[tuple[str, str, str], tuple[list[np.ndarray], list[np.ndarray]]] \
            = defaultdict(lambda: ([], []))
        self._types: dict[str, str] = {}

    def add(self, name: str, labels: dict[str, str], millis: Sequence[int] | np.ndarray,
            values: Sequence[float] | np.ndarray) -> None:
        plugin = labels.get(Label.PLUGIN)
        if plugin is None:
            return
        column = s.column_for(name, labels)
        if column is not None:
            if Label.PLUGIN_TYPE in labels:
                self._types.setdefault(plugin, labels[Label.PLUGIN_TYPE])
            key = (plugin, column, _series_key(labels))
            target = self._executions[key]
        elif name in s.OPERATION_METRICS:
            rest = {k: v for k, v in labels.items() if k not in ("__name__", Label.PLUGIN)}
            target = self._operations[(plugin, s.OPERATION_METRICS[name], s.label_text(rest))]
        else:
            return
        target[0].append(np.asarray(millis, dtype="int64"))
        target[1].append(np.asarray(values, dtype="float64"))

    def telemetry(self) -> s.Telemetry:
        return s.Telemetry(self._executions_frame(), self._operations_frame())

    def _executions_frame(self) -> pd.DataFrame:
        """One row per plugin, series and instant any of its columns was sampled at; a column
        without a sample there is NaN; a repeated sample of one column keeps its last value."""
        if not self._executions:
            return s.empty_executions()
        groups: dict[tuple[str, str], dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        for (plugin, column, series), (ts_parts, vs_parts) in self._executions.items():
            groups.setdefault((plugin, series), {})[column] = (np.concatenate(ts_parts),
                                                               np.concatenate(vs_parts))
        frames = []
        for (plugin, series), columns in groups.items():
            instants = np.unique(np.concatenate([t for t, _ in columns.values()]))
            data: dict[str, object] = {s.TIMESTAMP: instants, s.PLUGIN: plugin,
                                       s.SERIES: series}
            for column, (times, values) in columns.items():
                filled = np.full(len(instants), np.nan)
                # positions of each sample; a later duplicate overwrites an earlier one
                filled[np.searchsorted(instants, times)] = values
                data[column] = filled
            frames.append(pd.DataFrame(data))
        wide = pd.concat(frames, ignore_index=True)
        wide[s.PLUGIN_TYPE] = wide[s.PLUGIN].map(lambda p: self._types.get(p, "unknown"))
        return s.normalise_executions(wide)

    def _operations_frame(self) -> pd.DataFrame:
        if not self._operations:
            return s.empty_operations()
        parts = [pd.DataFrame({s.TIMESTAMP: np.concatenate(ts), s.PLUGIN: plugin,
                               s.METRIC: metric, s.LABELS: labels,
                               s.VALUE: np.concatenate(vs)})
                 for (plugin, metric, labels), (ts, vs) in self._operations.items()]
        frame = pd.concat(parts, ignore_index=True)
        frame = frame.groupby([s.PLUGIN, s.METRIC, s.LABELS, s.TIMESTAMP], as_index=False)[
            s.VALUE].sum()
        return frame[list(s.OPERATION_COLUMNS)].reset_index(drop=True)


def _series_key(labels: dict[str, str]) -> str:
    """The labels that make separate series of one column (`instance`, `job`, `version`...)."""
    return s.label_text({k: v for k, v in labels.items() if k not in _NOT_SERIES})
