"""The evaluator's answer, as pydantic models: `pluginops evaluate --format json` prints an
`Evaluation`, the weekly report embeds one, and the report's JSON Schema is generated from here.
Field names follow docs/architecture.md ("Telemetry sources"); None means "no data for this
figure"."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowFigures(_Model):
    error_ratio: float | None
    burn_rate: float | None


class SloResult(_Model):
    slo: str = Field(description="availability | latency")
    name: str
    objective: float
    period: str
    threshold_seconds: float | None = None
    windows: dict[str, WindowFigures]
    budget_consumed: float | None = Field(description="share of the period's budget spent")
    budget_remaining: float | None = Field(description="1 - budget_consumed; below 0 overspent")
    events: float | None
    bad_events: float | None
    compliant: bool | None = Field(description="period error ratio within the objective")


class Latency(_Model):
    window: str = "30m"
    p95: float | None
    p99: float | None


class Anomaly(_Model):
    kind: str = Field(description="cost (per successful execution) | error_ratio")
    start: str
    end: str
    score: float
    direction: str
    expected: float
    observed: float
    impact_usd: float | None = Field(description="extra spend over the episode (cost)")
    impact_executions: float | None = Field(description="extra failed executions (error_ratio)")
    ongoing: bool
    shape: str | None = Field(None, description="cost: spike | plateau | level_shift | leak | "
                                                "intermittent (from the episode's hours)")
    baseline: str | None = Field(None, description="cost: hour_of_week | hour_of_day, the "
                                                   "seasonal baseline the expectation used")
    share: float | None = Field(None, description="cost: impact over the plugin's spend in the "
                                                  "window")
    material: bool = Field(True, description="reaches the materiality floor: alerted; false: "
                                             "listed as minor, never alerted")


class LatencyRegression(_Model):
    quantile: float
    window: str
    current: float | None
    previous: float | None
    ratio: float | None
    p_value: float | None = Field(description="permutation test on the quantile ratio")
    tail_p_value: float | None = Field(None, description="one-sided exceedance test above the "
                                       "previous quantile's bucket (decides the status)")
    rank_p_value: float | None = Field(description="one-sided Mann-Whitney from the buckets")
    cliffs_delta: float | None
    current_executions: int
    previous_executions: int
    status: str


class Trend(_Model):
    value: float | None
    previous: float | None
    delta: float | None
    delta_ratio: float | None
    direction: str = Field(description="up | down | flat | unknown")
    better: bool | None = Field(description="whether the change is good news")


class WindowSummary(_Model):
    executions: float | None
    successes: float | None
    availability: float | None
    error_ratio: float | None
    p95: float | None
    p99: float | None
    cost_usd: float | None
    cost_per_success_usd: float | None
    cost_per_success_variance: float | None
    tokens: float | None


class PluginResult(_Model):
    plugin: str
    plugin_type: str
    slos: list[SloResult]
    latency: Latency
    cost_per_success_usd: float | None = Field(description="over the evaluation window")
    cost_anomaly_score: float | None = Field(description="score of the latest complete hour")
    anomalies: list[Anomaly]
    latency_regressions: list[LatencyRegression]
    current_window: WindowSummary
    previous_window: WindowSummary
    trends: dict[str, dict[str, Trend]] = Field(
        description="window (7d, 30d) -> figure -> this window against the one before")


class Ranked(_Model):
    plugin: str
    plugin_type: str
    value: float


class Fleet(_Model):
    plugins: int
    current_window: WindowSummary
    previous_window: WindowSummary
    trends: dict[str, Trend]
    slo_compliant: int
    slo_breached: int
    slo_without_data: int
    top_failing: list[Ranked]
    top_costly: list[Ranked]
    fastest_burning: list[Ranked]


class Evaluation(_Model):
    at: str
    window: str
    source: str
    step_seconds: int
    fleet: Fleet
    plugins: list[PluginResult]
    recorded_figures: int = Field(default=0, description="SLO figures read from the store's "
                                  "recorded series (--prometheus with the generated rules) "
                                  "instead of computed from raw counters")
    shard: str | None = Field(default=None, description="K/N when this replica evaluated a "
                              "shard of the fleet (`--shard`); the fleet figures are the shard's")
    data_end: str | None = Field(default=None, description="The newest execution sample the "
                                 "source holds (for a store: up to `at`)")
    stale: bool = Field(default=False, description="True when the figures are older than the "
                        "source's data: `at` is before `data_end` by more than one step (an "
                        "evaluation of the past, or a service whose cycles fail)")
