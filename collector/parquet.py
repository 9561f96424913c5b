"""The collector's cache: a folder with `executions.parquet` (one row group per plugin, so the
evaluator can read plugin by plugin), `operations.parquet` and `meta.json` (format, source,
start and end in unix seconds). Written into a temporary folder and renamed into place, so a
reader sees a whole cache or none."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from collector import schema as s
from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.files import atomic_directory

EXECUTIONS = "executions.parquet"
OPERATIONS = "operations.parquet"
META = "meta.json"
FORMAT = 2  # 2: rows per series (the `series` column); a format-1 cache summed hosts' counters


def _arrow_schema() -> pa.Schema:
    fields = [pa.field(s.TIMESTAMP, pa.int64()), pa.field(s.PLUGIN, pa.string()),
              pa.field(s.PLUGIN_TYPE, pa.string()), pa.field(s.SERIES, pa.string())]
    fields += [pa.field(c, pa.float64()) for c in s.VALUE_COLUMNS]
    return pa.schema(fields)


def _not_a_cache(folder: Path, why: str) -> PluginopsError:
    return PluginopsError(Code.PARQUET_CACHE_INVALID, f"{folder} is not a Pluginops Parquet cache: "
                          f"{why}", where=str(folder),
                          next_step="create one with `pluginops collect --out DIR`")


class CacheWriter:
    """Streams plugin frames into a folder (a temporary one: see `write`)."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self._meta = {"format": FORMAT, **meta}
        # Counter values change little from one minute to the next: split into byte streams
        # they compress to half of zstd's size on plain floats and decode 5x faster (lz4);
        # only the label columns are worth a dictionary.
        self._writer = pq.ParquetWriter(
            folder / EXECUTIONS, _arrow_schema(), compression="lz4",
            use_dictionary=[s.PLUGIN, s.PLUGIN_TYPE, s.SERIES],
            column_encoding={column: "BYTE_STREAM_SPLIT" for column in s.VALUE_COLUMNS})

    def add_executions(self, frame: pd.DataFrame) -> None:
        """Append one or more plugins' rows; each plugin becomes one row group."""
        frame = s.normalise_executions(frame.copy())
        for _, group in frame.groupby(s.PLUGIN, sort=True):
            table = pa.Table.from_pandas(group, schema=_arrow_schema(), preserve_index=False)
            self._writer.write_table(table, row_group_size=max(len(group), 1))

    def close(self, operations: pd.DataFrame) -> None:
        self._writer.close()
        operations.to_parquet(self.folder / OPERATIONS, index=False, compression="zstd")
        (self.folder / META).write_text(json.dumps(self._meta, indent=2, sort_keys=True) + "\n")

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # closing a closed writer raises; nothing to keep
            self._writer.close()


@contextlib.contextmanager
def writing(folder: Path, meta: dict[str, Any]) -> Iterator[CacheWriter]:
    """A new cache at `folder`, published whole when the block ends (a reader sees the old
    cache or the new one), discarded on error."""
    with atomic_directory(folder) as tmp:
        writer = CacheWriter(tmp, meta)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise


def write(telemetry: s.Telemetry, folder: Path, meta: dict[str, Any] | None = None) -> None:
    with writing(folder, meta or {}) as writer:
        writer.add_executions(telemetry.executions)
        writer.close(telemetry.operations)


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((folder / META).read_text())
    except FileNotFoundError:
        raise _not_a_cache(folder, f"{META} is missing") from None
    except (OSError, ValueError) as exc:
        raise _not_a_cache(folder, f"{META} is unreadable: {exc}") from None
    if meta.get("format") != FORMAT:
        raise _not_a_cache(folder, f"format {meta.get('format')!r}, this version reads {FORMAT}")
    return meta


def plugin_groups(folder: Path) -> Iterator[pd.DataFrame]:
    """Each row group of the executions file (one plugin each), in order."""
    read_meta(folder)
    try:
        handle = pq.ParquetFile(folder / EXECUTIONS)
    except (OSError, pa.ArrowException) as exc:
        raise _not_a_cache(folder, f"{EXECUTIONS}: {exc}") from None
    with handle:
        for index in range(handle.num_row_groups):
            yield handle.read_row_group(index).to_pandas()


def row_group_plugins(folder: Path) -> list[str]:
    """The plugin of each row group, from the footer's statistics (no row is read)."""
    read_meta(folder)
    with pq.ParquetFile(folder / EXECUTIONS) as handle:
        column = handle.schema_arrow.get_field_index(s.PLUGIN)
        out = []
        for index in range(handle.num_row_groups):
            stats = handle.metadata.row_group(index).column(column).statistics
            if stats is None or not stats.has_min_max or stats.min != stats.max:
                out.append(str(handle.read_row_group(index, columns=[s.PLUGIN])
                               .column(0)[0].as_py()))
            else:
                out.append(str(stats.min))
        return out


def row_group_count(folder: Path) -> int:
    read_meta(folder)
    with pq.ParquetFile(folder / EXECUTIONS) as handle:
        return int(handle.num_row_groups)


def each_table(folder: Path, indices: list[int], columns: Sequence[str] | None = None
               ) -> Iterator[pa.Table]:
    """The given row groups one by one, from one open file (its footer, which lists every row
    group, is parsed once); with `columns`, only those value columns (and the keys) are read."""
    wanted = None if columns is None else [*s.KEYS, *columns]
    # the label columns repeat one value per row: read as categories, not a string per row
    with pq.ParquetFile(folder / EXECUTIONS,
                        read_dictionary=[s.PLUGIN, s.PLUGIN_TYPE, s.SERIES]) as handle:
        for index in indices:
            yield handle.read_row_group(index, columns=wanted)


def read(folder: Path) -> s.Telemetry:
    groups = list(plugin_groups(folder))
    executions = (pd.concat(groups, ignore_index=True) if groups else s.empty_executions())
    return s.Telemetry(s.normalise_executions(executions), read_operations(folder))


def read_operations(folder: Path) -> pd.DataFrame:
    path = folder / OPERATIONS
    return pd.read_parquet(path) if path.exists() else s.empty_operations()
