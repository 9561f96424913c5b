"""The tidy telemetry the collector produces and the evaluator reads.

`Telemetry.executions`: one row per plugin, series and timestamp; every value column is a counter
as Prometheus stores it (cumulative, resets allowed), NaN where the series has no sample:

    timestamp (int64 ms) | plugin | plugin_type | series | executions_<outcome>...
    | latency_bucket_<le>... | latency_count | latency_sum | cost_usd | tokens

`series` names the labels that make separate series of one plugin's counter besides `outcome`
and `le` (`instance=...,version=...`, sorted; empty for a single series). Series are never summed
as counters: a host's restart resets only its own, and hosts are scraped at different instants.
The evaluator takes rates and increases per series, then sums them, as the recording rules do.

`Telemetry.operations`: long form for counters with other labels (installs, rollbacks, denials):

    timestamp (int64 ms) | plugin | metric | labels ("k=v,k=v", sorted) | value

Column names are derived here, once, from the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from contracts.catalogue import (
    EXECUTION_OUTCOMES,
    INSTALL_TRANSACTIONS,
    LATENCY_BUCKETS,
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    PLUGIN_TOKENS,
    POLICY_DENIALS,
    ROLLBACKS,
    Label,
)

TIMESTAMP = "timestamp"
PLUGIN = Label.PLUGIN
PLUGIN_TYPE = Label.PLUGIN_TYPE
SERIES = "series"
KEYS = (TIMESTAMP, PLUGIN, PLUGIN_TYPE, SERIES)

INF = "+Inf"


def le_text(bound: float) -> str:
    """The canonical spelling of a bucket bound in column names ('0.005', '1', '+Inf')."""
    return INF if bound == float("inf") else f"{bound:g}"


def outcome_column(outcome: str) -> str:
    return f"executions_{outcome}"


def bucket_column(bound: float) -> str:
    return f"latency_bucket_{le_text(bound)}"


OUTCOME_COLUMNS = tuple(outcome_column(o) for o in EXECUTION_OUTCOMES)
BAD_OUTCOME_COLUMNS = tuple(outcome_column(o) for o in EXECUTION_OUTCOMES if o != "success")
SUCCESS_COLUMN = outcome_column("success")
BUCKET_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
BUCKET_COLUMNS = tuple(bucket_column(b) for b in BUCKET_BOUNDS)
LATENCY_COUNT = "latency_count"
LATENCY_SUM = "latency_sum"
COST = "cost_usd"
TOKENS = "tokens"
VALUE_COLUMNS = (*OUTCOME_COLUMNS, *BUCKET_COLUMNS, LATENCY_COUNT, LATENCY_SUM, COST, TOKENS)
EXECUTION_COLUMNS = (*KEYS, *VALUE_COLUMNS)

# Operations frame.
METRIC, LABELS, VALUE = "metric", "labels", "value"
OPERATION_COLUMNS = (TIMESTAMP, PLUGIN, METRIC, LABELS, VALUE)
INSTALLS = "installs"
ROLLBACK_EVENTS = "rollbacks"
DENIALS = "denials"
OPERATION_METRICS = {
    INSTALL_TRANSACTIONS.name: INSTALLS,
    ROLLBACKS.name: ROLLBACK_EVENTS,
    POLICY_DENIALS.name: DENIALS,
}
OPERATION_METRIC_NAMES = {v: k for k, v in OPERATION_METRICS.items()}
# The labels an operation count is reported by; the others (instance, job...) only tell series
# apart: counts are increases per series, summed over them.
OPERATION_LABELS = {
    INSTALLS: (Label.OPERATION, Label.OUTCOME),
    ROLLBACK_EVENTS: (Label.PHASE, Label.REASON),
    DENIALS: (Label.PROFILE, Label.OPERATION),
}


def column_for(name: str, labels: dict[str, str]) -> str | None:
    """The tidy column a Prometheus series lands in, or None when it is not an execution series."""
    hist = PLUGIN_EXECUTION_DURATION.name
    if name == PLUGIN_EXECUTIONS.name:
        outcome = labels.get(Label.OUTCOME, "")
        return outcome_column(outcome) if outcome in EXECUTION_OUTCOMES else None
    if name == f"{hist}_bucket":
        try:
            bound = float(labels.get("le", ""))
        except ValueError:
            return None
        return bucket_column(bound) if bound in BUCKET_BOUNDS else None
    return {f"{hist}_count": LATENCY_COUNT, f"{hist}_sum": LATENCY_SUM,
            PLUGIN_EXECUTION_COST.name: COST, PLUGIN_TOKENS.name: TOKENS}.get(name)


def label_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def parse_label_text(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if part)


def empty_executions() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in EXECUTION_COLUMNS})
    frame[TIMESTAMP] = frame[TIMESTAMP].astype("int64")
    frame[PLUGIN] = frame[PLUGIN].astype("object")
    frame[PLUGIN_TYPE] = frame[PLUGIN_TYPE].astype("object")
    frame[SERIES] = frame[SERIES].astype("object")
    return frame


def empty_operations() -> pd.DataFrame:
    return pd.DataFrame({TIMESTAMP: pd.Series(dtype="int64"), PLUGIN: pd.Series(dtype="object"),
                         METRIC: pd.Series(dtype="object"), LABELS: pd.Series(dtype="object"),
                         VALUE: pd.Series(dtype="float64")})


def normalise_executions(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column present, in order, sorted by plugin, series, then time."""
    for column in VALUE_COLUMNS:
        if column not in frame:
            frame[column] = float("nan")
    if SERIES not in frame:
        frame[SERIES] = ""
    frame = frame[list(EXECUTION_COLUMNS)]
    frame = frame.astype({TIMESTAMP: "int64", SERIES: "object",
                          **{c: "float64" for c in VALUE_COLUMNS}})
    return frame.sort_values([PLUGIN, SERIES, TIMESTAMP], kind="stable").reset_index(drop=True)


@dataclass
class Telemetry:
    """What a source yields: executions (tidy) and operations (long), both counters."""

    executions: pd.DataFrame = field(default_factory=empty_executions)
    operations: pd.DataFrame = field(default_factory=empty_operations)

    @property
    def plugins(self) -> list[str]:
        return sorted(set(self.executions[PLUGIN].unique()))

    def span_ms(self) -> tuple[int, int] | None:
        ts = self.executions[TIMESTAMP]
        return (int(ts.min()), int(ts.max())) if len(ts) else None
