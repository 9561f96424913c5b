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
        self._executions: dict[tuple[str, str, str], tuple[list[int], list[float]]] = \
            defaultdict(lambda: ([], []))
        self._operations: dict[tuple[str, str, str], tuple[list[int], list[float]]] = \
            defaultdict(lambda: ([], []))
        self._types: dict[str, str] = {}

    def add(self, name: str, labels: dict[str, str], millis: Sequence[int],
            values: Sequence[float]) -> None:
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
        target[0].extend(millis)
        target[1].extend(values)

    def telemetry(self) -> s.Telemetry:
        return s.Telemetry(self._executions_frame(), self._operations_frame())

    def _executions_frame(self) -> pd.DataFrame:
        if not self._executions:
            return s.empty_executions()
        parts = [pd.DataFrame({s.TIMESTAMP: np.asarray(ts, dtype="int64"), s.PLUGIN: plugin,
                               s.SERIES: series, "column": column,
                               "v": np.asarray(vs, dtype="float64")})
                 for (plugin, column, series), (ts, vs) in self._executions.items()]
        long = pd.concat(parts, ignore_index=True)
        # one value per series, column and instant (a repeated sample keeps its last value)
        wide = long.pivot_table(index=[s.PLUGIN, s.SERIES, s.TIMESTAMP], columns="column",
                                values="v", aggfunc="last").reset_index()
        wide.columns.name = None
        wide[s.PLUGIN_TYPE] = wide[s.PLUGIN].map(lambda p: self._types.get(p, "unknown"))
        return s.normalise_executions(wide)

    def _operations_frame(self) -> pd.DataFrame:
        if not self._operations:
            return s.empty_operations()
        parts = [pd.DataFrame({s.TIMESTAMP: np.asarray(ts, dtype="int64"), s.PLUGIN: plugin,
                               s.METRIC: metric, s.LABELS: labels,
                               s.VALUE: np.asarray(vs, dtype="float64")})
                 for (plugin, metric, labels), (ts, vs) in self._operations.items()]
        frame = pd.concat(parts, ignore_index=True)
        frame = frame.groupby([s.PLUGIN, s.METRIC, s.LABELS, s.TIMESTAMP], as_index=False)[
            s.VALUE].sum()
        return frame[list(s.OPERATION_COLUMNS)].reset_index(drop=True)


def _series_key(labels: dict[str, str]) -> str:
    """The labels that make separate series of one column (`instance`, `job`, `version`...)."""
    return s.label_text({k: v for k, v in labels.items() if k not in _NOT_SERIES})
