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
from typing import TextIO

import numpy as np
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
