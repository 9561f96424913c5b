"""OpenMetrics text with a timestamp on every sample, both ways.

This is the format `promtool tsdb create-blocks-from openmetrics` backfills, so one synthetic file
feeds a real Prometheus and the evaluator alike. Reading keeps only the series the evaluator
uses (see `collector.schema`); writing emits the series Prometheus would hold, with `le` spelled
as prometheus_client spells it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from prometheus_client.utils import floatToGoString

from collector import schema as s
from collector.assemble import Assembler
from contracts.catalogue import (
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    PLUGIN_TOKENS,
    Label,
)
from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.files import atomic_writer

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|\})')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _error(where: str, message: str) -> PluginopsError:
    return PluginopsError(Code.OPENMETRICS_INVALID, message, where=where,
                          next_step="write one sample per line as `name{labels} value timestamp` "
                                    "and end the file with `# EOF`")


def _unescape(value: str) -> str:
    return re.sub(r'\\[\\"n]', lambda m: _ESCAPES[m.group(0)], value) if "\\" in value else value


def parse_sample(line: str, where: str) -> tuple[str, dict[str, str], float, float]:
    """`name{a="b"} value timestamp [# exemplar]` -> (name, labels, value, timestamp seconds)."""
    match = _NAME.match(line)
    if not match:
        raise _error(where, f"not a sample: {line[:80]!r}")
    name, pos, labels = match.group(0), match.end(), {}
    if pos < len(line) and line[pos] == "{":
        pos += 1
        if line.startswith("}", pos):
            pos += 1
        else:
            while True:
                label = _LABEL.match(line, pos)
                if not label:
                    raise _error(where, f"bad label set in {line[:80]!r}")
                labels[label.group(1)] = _unescape(label.group(2))
                pos = label.end()
                if label.group(3) == "}":
                    break
    rest = line[pos:].split(" # ", 1)[0].split()
    if len(rest) != 2:
        raise _error(where, f"{name}: every sample needs a value and a timestamp "
                            f"(found {len(rest)} field(s) after the labels)")
    try:
        return name, labels, float(rest[0]), float(rest[1])
    except ValueError:
        raise _error(where, f"{name}: value or timestamp is not a number: "
                            f"{' '.join(rest)!r}") from None


def read(path: Path) -> s.Telemetry:
    """The file's telemetry: by the columnar reader when the file is plain (one sample per
    line, `name{labels} value timestamp`, comments only at the start of a line, `# EOF` last),
    else, and for every malformed file, by the line reader, which names the line at fault."""
    try:
        fast = read_columnar(path)
    except (OSError, ValueError, pa.ArrowException):
        fast = None
    return fast if fast is not None else read_lines(path)


def read_columnar(path: Path) -> s.Telemetry | None:
    """Arrow's CSV reader splits each line at its spaces (three fields: the series, the value,
    the timestamp), converts the numbers and dictionary-encodes the series in compiled code, on
    every core; each distinct series is then parsed once. None when the file is not plain: a
    line with an exemplar or a space inside a label, a missing or early `# EOF`."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 64))
        if handle.read().rstrip(b"\n").rsplit(b"\n", 1)[-1] != b"# EOF":
            return None
    odd: list[str] = []  # rows that are not three fields: only comment lines may be

    def skip(row: Any) -> str:
        if not row.text.startswith("#"):
            odd.append(row.text)
        return "skip"

    table = pacsv.read_csv(
        path, read_options=pacsv.ReadOptions(column_names=["series", "value", "ts"],
                                             block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False, double_quote=False,
                                         escape_char=False, newlines_in_values=False,
                                         ignore_empty_lines=True, invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(column_types={
            "series": pa.dictionary(pa.int32(), pa.string()), "value": pa.float64(),
            "ts": pa.float64()}, strings_can_be_null=False))
    if odd:
        return None
    series = table.column("series").combine_chunks()
    if not isinstance(series, pa.DictionaryArray):
        return None
    codes = series.indices.to_numpy(zero_copy_only=False)
    values = table.column("value").to_numpy()
    millis = np.round(table.column("ts").to_numpy() * 1000).astype("int64")
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(series.dictionary) + 1))
    assembler = Assembler()
    for code, prefix in enumerate(series.dictionary.to_pylist()):
        if prefix.startswith("#"):
            return None  # a comment of exactly three fields: leave it to the line reader
        name, labels, _, _ = parse_sample(f"{prefix} 0 0", f"{path}: {prefix[:80]}")
        rows = order[bounds[code]:bounds[code + 1]]
        assembler.add(name, labels, millis[rows], values[rows])
    return assembler.telemetry()


def read_lines(path: Path) -> s.Telemetry:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise PluginopsError(Code.SOURCE_UNREADABLE, f"cannot open {path}: {exc.strerror}",
                             where=str(path), next_step="pass an existing OpenMetrics file"
                             ) from None
    with handle:
        return parse(handle, str(path))


def parse(lines: Iterable[str] | TextIO, source: str) -> s.Telemetry:
    """Samples grouped by series: each distinct `name{labels}` is parsed once, then every line
    of it costs a split and two float conversions."""
    series: dict[str, tuple[str, dict[str, str], list[int], list[float]]] = {}
    ended = False
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if ended:
            if line.strip():
                raise _error(f"{source}:{number}", "content after `# EOF`")
            continue
        if not line or line.startswith("#"):
            ended = line.strip() == "# EOF"
            continue
        fields = line.rsplit(" ", 2) if " # " not in line else None
        known = series.get(fields[0]) if fields and len(fields) == 3 else None
        if known is None or fields is None:
            name, labels, value, ts = parse_sample(line, f"{source}:{number}")
            prefix = line.split(" # ", 1)[0].rsplit(" ", 2)[0]
            known = series.setdefault(prefix, (name, labels, [], []))
        else:
            try:
                value, ts = float(fields[1]), float(fields[2])
            except ValueError:
                raise _error(f"{source}:{number}", f"{known[0]}: value or timestamp is not a "
                             f"number: {fields[1]} {fields[2]!r}") from None
        known[2].append(round(ts * 1000))
        known[3].append(value)
    if not ended:
        raise _error(source, "the file does not end with `# EOF` (truncated?)")
    assembler = Assembler()
    for name, labels, millis, values in series.values():
        assembler.add(name, labels, millis, values)
    return assembler.telemetry()


# Writing ------------------------------------------------------------------------------------

def _labels(pairs: dict[str, str]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in pairs.items())
    return f"{{{body}}}"


def _series_lines(name: str, labels: dict[str, str], ts: np.ndarray,
                  values: np.ndarray) -> Iterator[str]:
    head = f"{name}{_labels(labels)} "
    for t, v in zip(ts.tolist(), values.tolist(), strict=True):
        if not math.isnan(v):
            yield f"{head}{v!r} {t / 1000:.3f}\n"


def write(telemetry: s.Telemetry, out: TextIO, extra_labels: dict[str, str] | None = None
          ) -> None:
    """Emit every series of `telemetry` as OpenMetrics; `extra_labels` (job, instance) are added
    to each series, as a scrape would."""
    extra = extra_labels or {}
    frame = telemetry.executions
    hist = PLUGIN_EXECUTION_DURATION.name
    by_series = [(str(p), str(series), g) for (p, series), g in
                 frame.groupby([s.PLUGIN, s.SERIES], sort=True, observed=True)]

    def each(column: str, name: str, labels_for: dict[str, str]) -> Iterator[str]:
        for plugin, series, group in by_series:
            base = {Label.PLUGIN: plugin, Label.PLUGIN_TYPE: str(group[s.PLUGIN_TYPE].iat[0]),
                    **labels_for, **extra, **s.parse_label_text(series)}
            if name == PLUGIN_TOKENS.name:
                base.pop(Label.PLUGIN_TYPE)
            yield from _series_lines(name, base, group[s.TIMESTAMP].to_numpy(),
                                     group[column].to_numpy())

    out.write(f"# TYPE {PLUGIN_EXECUTIONS.name.removesuffix('_total')} counter\n")
    for outcome_column in s.OUTCOME_COLUMNS:
        outcome = outcome_column.removeprefix("executions_")
        out.writelines(each(outcome_column, PLUGIN_EXECUTIONS.name, {Label.OUTCOME: outcome}))
    out.write(f"# TYPE {hist} histogram\n")
    for bound, column in zip(s.BUCKET_BOUNDS, s.BUCKET_COLUMNS, strict=True):
        out.writelines(each(column, f"{hist}_bucket",
                            {"le": floatToGoString(bound)}))  # type: ignore[no-untyped-call]
    out.writelines(each(s.LATENCY_COUNT, f"{hist}_count", {}))
    out.writelines(each(s.LATENCY_SUM, f"{hist}_sum", {}))
    for column, name in ((s.COST, PLUGIN_EXECUTION_COST.name), (s.TOKENS, PLUGIN_TOKENS.name)):
        out.write(f"# TYPE {name.removesuffix('_total')} counter\n")
        out.writelines(each(column, name, {}))
    ops = telemetry.operations
    for metric, family in sorted(s.OPERATION_METRIC_NAMES.items()):
        rows = ops[ops[s.METRIC] == metric]
        if rows.empty:
            continue
        out.write(f"# TYPE {family.removesuffix('_total')} counter\n")
        for (plugin, labels), group in rows.groupby([s.PLUGIN, s.LABELS], sort=True):
            out.writelines(_series_lines(
                family, {Label.PLUGIN: str(plugin), **s.parse_label_text(str(labels)), **extra},
                group[s.TIMESTAMP].to_numpy(), group[s.VALUE].to_numpy()))
    out.write("# EOF\n")


def write_file(telemetry: s.Telemetry, path: Path,
               extra_labels: dict[str, str] | None = None) -> None:
    with atomic_writer(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        write(telemetry, handle, extra_labels)
