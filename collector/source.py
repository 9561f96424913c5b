"""`--prometheus URL | --openmetrics FILE | --parquet DIR`: where telemetry comes from
(docs/architecture.md, "Telemetry sources"), and how much of it an evaluation needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from collector import openmetrics, parquet
from collector import schema as s
from collector.prometheus import PrometheusClient, collect
from contracts.codes import Code
from contracts.errors import PluginopsError


@dataclass(frozen=True)
class Source:
    kind: str  # prometheus | openmetrics | parquet
    location: str
    authorization: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    timeout_s: float = 30.0
    retries: int = 4
    step_s: float = 60.0

    def describe(self) -> str:
        return f"{self.kind}:{self.location}"


def choose(prometheus: str | None, openmetrics_file: str | None, parquet_dir: str | None,
           **options: object) -> Source:
    given = [(k, v) for k, v in (("prometheus", prometheus), ("openmetrics", openmetrics_file),
                                 ("parquet", parquet_dir)) if v]
    if len(given) != 1:
        raise PluginopsError(
            Code.SOURCE_REQUIRED, f"give exactly one telemetry source ({len(given)} given)",
            where="--prometheus/--openmetrics/--parquet",
            next_step="pass --prometheus URL, --openmetrics FILE or --parquet DIR")
    kind, location = given[0]
    if kind != "prometheus" and not Path(location).exists():
        raise PluginopsError(Code.SOURCE_UNREADABLE, f"{location} does not exist",
                             where=f"--{kind}", next_step="pass an existing file or folder")
    return Source(kind, location, **options)  # type: ignore[arg-type]


def client_for(source: Source) -> PrometheusClient:
    return PrometheusClient(source.location, timeout_s=source.timeout_s, retries=source.retries,
                            authorization=source.authorization, headers=dict(source.headers),
                            ca_file=source.ca_file, client_cert=source.client_cert,
                            client_key=source.client_key)


def load(source: Source, start_s: float, end_s: float,
         progress: Callable[[str], None] | None = None) -> s.Telemetry:
    """All telemetry in [start, end] (file sources are read whole, then cut)."""
    if source.kind == "prometheus":
        return collect(client_for(source), start_s, end_s, source.step_s, progress)
    if source.kind == "openmetrics":
        telemetry = openmetrics.read(Path(source.location))
    else:
        telemetry = parquet.read(Path(source.location))
    return cut(telemetry, start_s, end_s)


def cut(telemetry: s.Telemetry, start_s: float, end_s: float) -> s.Telemetry:
    lo, hi = int(start_s * 1000), int(end_s * 1000)
    ex, ops = telemetry.executions, telemetry.operations
    return s.Telemetry(
        ex[(ex[s.TIMESTAMP] >= lo) & (ex[s.TIMESTAMP] <= hi)].reset_index(drop=True),
        ops[(ops[s.TIMESTAMP] >= lo) & (ops[s.TIMESTAMP] <= hi)].reset_index(drop=True))


def plugin_frames(telemetry: s.Telemetry) -> Iterator[pd.DataFrame]:
    for _, group in telemetry.executions.groupby(s.PLUGIN, sort=True):
        yield group
