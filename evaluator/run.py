"""Evaluate a fleet from a source: plugin by plugin (in worker processes for a Parquet cache, one
row group per plugin), then the fleet roll-up."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from alerts.spec import Slo
from alerts.windows import seconds
from collector import parquet
from collector import schema as s
from collector.rolling import FINE_S, RollingTelemetry
from collector.source import Source, client_for, load, plugin_frames
from contracts.catalogue import PLUGIN_EXECUTIONS
from contracts.codes import Code
from contracts.errors import PluginopsError
from evaluator import recorded
from evaluator.fleet import roll_up
from evaluator.plugin import PluginOutcome, Settings, evaluate_plugin, iso
from evaluator.results import Evaluation
from evaluator.series import PluginSeries
from evaluator.shard import Shard
from evaluator.slo import RATE_RANGE_MS

Progress = Callable[[int, int], None]
MARGIN_S = 600
FAR_FUTURE_S = 10**11


@dataclass
class Run:
    evaluation: Evaluation
    outcomes: list[PluginOutcome]
    operations: pd.DataFrame


def lookback_s(slos: list[Slo], settings: Settings) -> float:
    """How far back an evaluation reads."""
    spans = [seconds(x.period) for x in slos]
    spans += [2 * seconds(w) for w in (*settings.trend_windows, settings.window)]
    spans.append(seconds(settings.window) + settings.history_hours * 3600)
    return max(spans) + MARGIN_S


def _evaluate_frame(frame: pd.DataFrame, slos: list[Slo], at_ms: int, settings: Settings
                    ) -> PluginOutcome:
    series = PluginSeries.from_frame(frame, settings.interpolate_gaps_s)
    return evaluate_plugin(series, slos, at_ms, settings)


def _outcomes(folder: Path, indices: list[int], slos: list[Slo], at_ms: int,
              settings: Settings) -> Iterator[PluginOutcome | None]:
    """Each row group's plugin evaluated (None for an empty one), read from one open file."""
    for table in parquet.each_table(folder, indices):
        if not table.num_rows:
            yield None
            continue
        series = PluginSeries.from_arrow(table, settings.interpolate_gaps_s)
        yield evaluate_plugin(series, slos, at_ms, settings)


def _evaluate_groups(folder: str, indices: list[int], slos: list[Slo], at_ms: int,
                     settings: Settings) -> list[PluginOutcome]:
    return [o for o in _outcomes(Path(folder), indices, slos, at_ms, settings) if o is not None]


def _at_ms(at_s: float | None, telemetry_end_ms: int | None) -> int:
    if at_s is not None:
        return int(at_s * 1000)
    now = int(time.time() * 1000)
    return min(now, telemetry_end_ms) if telemetry_end_ms is not None else now


def _no_data(source: Source) -> PluginopsError:
    return PluginopsError(Code.NO_TELEMETRY, f"{source.describe()} holds no plugin executions in "
                          "the evaluated range", where=source.describe(),
                          next_step="check --at and the source; the runtime exports "
                                    f"{PLUGIN_EXECUTIONS.name} once a plugin runs")


def evaluate_source(source: Source, slos: list[Slo], settings: Settings, at_s: float | None,
                    progress: Progress | None = None, workers: int = 2,
                    shard: Shard | None = None, rolling: RollingTelemetry | None = None) -> Run:
    """Evaluate every plugin of the source, or, with a shard, the plugins it owns. With
    `rolling` (a store, evaluated again and again) only what is new is fetched."""
    if source.kind == "parquet":
        return _evaluate_parquet(source, slos, settings, at_s, progress, workers, shard)
    records = recorded.Recorded()
    if source.kind == "openmetrics":  # a recording: read whole
        telemetry = load(source, 0, FAR_FUTURE_S)
        span = telemetry.span_ms()
        at_ms = _at_ms(at_s, span[1] if span else None)
    else:
        at_ms = _at_ms(at_s, None)
        client = client_for(source)
        # what the store's ruler recorded wins over recomputing; beside it, raw series are
        # needed at every step for the last hours only (collector.rolling)
        records = recorded.read(client, at_ms / 1000)
        if rolling is None:
            rolling = RollingTelemetry(client, lookback_s(slos, settings), source.step_s,
                                       fine_s=None if records.empty else FINE_S)
        telemetry = rolling.refresh(at_ms / 1000)
        if rolling.fine_s is not None:
            settings = replace(settings, interpolate_gaps_s=rolling.coarse_s)
    if telemetry.executions.empty:
        raise _no_data(source)
    span = telemetry.span_ms()
    frames = [frame for frame in plugin_frames(telemetry)
              if shard is None or shard.owns(str(frame[s.PLUGIN].iat[0]))]
    outcomes = []
    for done, frame in enumerate(frames, 1):
        outcomes.append(_evaluate_frame(frame, slos, at_ms, settings))
        if progress:
            progress(done, len(frames))
    replaced = recorded.overlay(outcomes, records)
    if rolling is not None and rolling.fine_s is not None:
        recorded.unknown_unless_recorded(outcomes, replaced,
                                         rolling.fine_s - RATE_RANGE_MS / 1000)
    run = _finish(source, settings, at_ms, outcomes, telemetry.operations, shard,
                  span[1] if span else None)
    run.evaluation.recorded_figures = len(replaced)
    return run


def _evaluate_parquet(source: Source, slos: list[Slo], settings: Settings, at_s: float | None,
                      progress: Progress | None, workers: int, shard: Shard | None) -> Run:
    folder = Path(source.location)
    meta = parquet.read_meta(folder)
    data_end = int(meta["end"] * 1000) if "end" in meta else None
    at_ms = _at_ms(at_s, data_end)
    if not parquet.row_group_count(folder):
        raise _no_data(source)
    owned = [index for index, plugin in enumerate(parquet.row_group_plugins(folder))
             if shard is None or shard.owns(plugin)]
    groups = len(owned)
    outcomes: list[PluginOutcome] = []
    if workers <= 1 or groups < 2 * workers:
        for done, outcome in enumerate(_outcomes(folder, owned, slos, at_ms, settings), 1):
            if outcome is not None:
                outcomes.append(outcome)
            if progress:
                progress(done, groups)
        return _finish(source, settings, at_ms, outcomes, parquet.read_operations(folder), shard,
                       data_end)
    batches = [owned[i::workers * 8] for i in range(workers * 8)]
    batches = [b for b in batches if b]
    done = 0
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_evaluate_groups, str(folder), batch, slos, at_ms, settings)
                   for batch in batches]
        for future in futures:
            batch = future.result()
            outcomes += batch
            done += len(batch)
            if progress:
                progress(done, groups)
    outcomes.sort(key=lambda o: o.result.plugin)
    return _finish(source, settings, at_ms, outcomes, parquet.read_operations(folder), shard,
                   data_end)


def _finish(source: Source, settings: Settings, at_ms: int, outcomes: list[PluginOutcome],
            operations: pd.DataFrame, shard: Shard | None = None,
            data_end_ms: int | None = None) -> Run:
    evaluation = Evaluation(at=iso(at_ms), window=settings.window, source=source.describe(),
                            step_seconds=settings.step_s, fleet=roll_up(outcomes),
                            plugins=[o.result for o in outcomes],
                            shard=str(shard) if shard else None,
                            data_end=iso(data_end_ms) if data_end_ms is not None else None,
                            stale=data_end_ms is not None and
                            data_end_ms - at_ms > settings.step_s * 1000)
    ops = operations[operations[s.TIMESTAMP] <= at_ms]
    if shard is not None:
        ops = ops[[shard.owns(str(p)) for p in ops[s.PLUGIN]]]
    return Run(evaluation, outcomes, ops)
