"""`pluginops collect` and `pluginops evaluate [--serve]`: telemetry from one source
(docs/architecture.md, "Telemetry sources") through the evaluator; the source options and the
evaluation `report weekly` (report_cmd.py) shares.

pandas, pyarrow and scipy are imported when one of these commands runs, not when `pluginops`
starts: every other command (and the install crash tests' timing) pays nothing for them."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from alerts.generated_files import SLO_DIR
from alerts.spec import load_slos
from alerts.windows import seconds
from contracts.codes import Code
from contracts.errors import PluginopsError
from pluginops.cli.common import emit_json, format_option, handles_errors, note
from pluginops.extras import require as require_extra

if TYPE_CHECKING:
    from collector.rolling import RollingTelemetry
    from collector.source import Source
    from evaluator.materiality import Materiality
    from evaluator.plugin import Settings
    from evaluator.results import Evaluation
    from evaluator.run import Run

F = TypeVar("F", bound=Callable[..., Any])
ENV_AUTHORIZATION = "PLUGINOPS_PROMETHEUS_AUTHORIZATION"
ENV_HEADERS = "PLUGINOPS_PROMETHEUS_HEADERS"


def parse_time(value: str, option: str) -> float:
    """RFC 3339 or unix seconds."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PluginopsError(Code.TIME_INVALID, f"{value!r} is neither RFC 3339 nor unix seconds",
                             where=option, next_step="write e.g. 2026-11-25T12:00:00Z or "
                                                     "1795608000") from None
    if parsed.tzinfo is None:
        raise PluginopsError(Code.TIME_INVALID, f"{value!r} has no time zone", where=option,
                             next_step="add Z or an offset, e.g. 2026-11-25T12:00:00Z")
    return parsed.timestamp()


def parse_window(value: str, option: str) -> str:
    try:
        seconds(value)
    except ValueError:
        raise PluginopsError(Code.WINDOW_INVALID, f"{value!r} is not a duration", where=option,
                             next_step="write a duration of one unit, e.g. 7d or 30d") from None
    return value


def _keep_headers(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
                  ) -> None:
    ctx.meta["prometheus_headers"] = list(value)


def _keep(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """Options every source command takes but only the source reads: kept in the context."""
    def keep(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        ctx.meta[f"prometheus_{name}"] = value
    return keep


def source_options(func: F) -> F:
    options = [
        click.option("--prometheus", metavar="URL", help="Prometheus (or Thanos, Mimir) URL."),
        click.option("--openmetrics", "openmetrics_file", metavar="FILE",
                     help="OpenMetrics text with a timestamp per sample."),
        click.option("--parquet", "parquet_dir", metavar="DIR",
                     help="A cache written by `pluginops collect`."),
        click.option("--authorization", envvar=ENV_AUTHORIZATION, show_envvar=True,
                     metavar="VALUE", help="Authorization header for --prometheus."),
        click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
                     expose_value=False, callback=_keep_headers,
                     help="An extra header for --prometheus, e.g. 'X-Scope-OrgID: team-a' "
                          f"(repeatable; also ${ENV_HEADERS}, one per line)."),
        click.option("--ca-file", "ca_file", metavar="PEM", expose_value=False,
                     callback=_keep("ca_file"),
                     help="Trust this CA for an https --prometheus (a private store)."),
        click.option("--client-cert", metavar="PEM", expose_value=False,
                     callback=_keep("client_cert"),
                     help="Client certificate for a store that asks for one (mTLS)."),
        click.option("--client-key", metavar="PEM", expose_value=False,
                     callback=_keep("client_key"), help="The client certificate's key."),
        click.option("--timeout", "timeout_s", type=float, default=30.0, show_default=True,
                     help="Seconds per Prometheus request."),
        click.option("--retries", type=click.IntRange(0, 10), default=4, show_default=True,
                     help="Retries of a failed Prometheus request, with exponential backoff."),
        click.option("--step", "step_s", type=int, default=60, show_default=True,
                     help="Resolution of collected series, and the rule evaluation interval "
                          "the 5m rates are recorded at (seconds)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def telemetry_source(prometheus: str | None, openmetrics_file: str | None,
                     parquet_dir: str | None, authorization: str | None, timeout_s: float,
                     retries: int, step_s: int) -> Source:
    subcommand = click.get_current_context().command_path.split(" ", 1)[-1]
    require_extra("evaluator", f"pluginops {subcommand}")
    from collector.source import choose

    if step_s <= 0:
        raise PluginopsError(Code.STEP_INVALID, f"step {step_s}", where="--step",
                             next_step="give a positive number of seconds")
    from collector.prometheus import parse_headers

    lines = [*os.environ.get(ENV_HEADERS, "").splitlines(),
             *click.get_current_context().meta.get("prometheus_headers", [])]
    headers = parse_headers(lines, f"--header / ${ENV_HEADERS}")
    meta = click.get_current_context().meta
    return choose(prometheus, openmetrics_file, parquet_dir, authorization=authorization,
                  headers=tuple(headers.items()), ca_file=meta.get("prometheus_ca_file"),
                  client_cert=meta.get("prometheus_client_cert"),
                  client_key=meta.get("prometheus_client_key"), timeout_s=timeout_s,
                  retries=retries, step_s=float(step_s))


class _Bar:
    """A progress bar on stderr (only when it is a terminal), and nothing else on stdout."""

    def __init__(self, label: str) -> None:
        self.console = Console(stderr=True)
        self.progress = Progress(label, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self.console, transient=True,
                                 disable=not self.console.is_terminal)
        self.task = self.progress.add_task(label, total=None)

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total)


def materiality_option(func: F) -> F:
    return click.option(
        "--materiality", "materiality", type=click.Path(path_type=Path, dir_okay=False),
        default=None, help="YAML floors a cost anomaly's extra spend must reach to be alerted "
        "(default, by type, by plugin; docs/evaluator.md, \"Materiality\").")(func)


def materiality_floors(path: Path | None) -> Materiality:
    from evaluator.materiality import Materiality, load_materiality

    return load_materiality(path) if path is not None else Materiality()


def _settings(source: Source, window: str, materiality: Materiality) -> Settings:
    from evaluator.plugin import Settings

    return Settings(step_s=int(source.step_s), window=parse_window(window, "--window"),
                    materiality=materiality)


def evaluated_run(source: Source, at: str | None, window: str, workers: int,
                  materiality: Materiality, shard: str | None = None,
                  rolling: RollingTelemetry | None = None) -> Run:
    from evaluator.run import evaluate_source
    from evaluator.shard import parse_shard

    at_s = parse_time(at, "--at") if at else None
    started = time.monotonic()
    note(f"evaluating {source.describe()}")
    with _Bar("plugins") as bar:
        run = evaluate_source(source, load_slos(SLO_DIR), _settings(source, window, materiality),
                              at_s, bar,
                              workers, parse_shard(shard) if shard else None, rolling)
    note(f"evaluated {len(run.evaluation.plugins)} plugins at {run.evaluation.at} in "
         f"{time.monotonic() - started:.1f} s")
    return run


@click.command()
@source_options
@click.option("--start", required=True, help="RFC 3339 or unix seconds.")
@click.option("--end", default=None, help="RFC 3339 or unix seconds (default: now).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The Parquet cache folder to write (replaced whole).")
@handles_errors
def collect(prometheus: str | None, openmetrics_file: str | None, parquet_dir: str | None,
            authorization: str | None, timeout_s: float, retries: int, step_s: int, start: str,
            end: str | None, out: Path) -> None:
    """Copy telemetry from a source into a Parquet cache for offline evaluation."""
    from collector import parquet
    from collector.source import load

    source = telemetry_source(prometheus, openmetrics_file, parquet_dir, authorization,
                              timeout_s, retries, step_s)
    start_s = parse_time(start, "--start")
    end_s = parse_time(end, "--end") if end else time.time()
    if end_s <= start_s:
        raise PluginopsError(Code.RANGE_INVALID, "--end is not after --start", where="--end",
                             next_step="give an end after the start")
    telemetry = load(source, start_s, end_s, lambda name: note(f"collecting {name}"))
    parquet.write(telemetry, out, {"source": source.describe(), "start": start_s,
                                   "end": end_s, "step_seconds": step_s})
    note(f"wrote {len(telemetry.executions)} rows for {len(telemetry.plugins)} plugins to {out}")


def _text(run: Run) -> None:
    ev = run.evaluation
    fleet = ev.fleet.current_window
    click.echo(f"at {ev.at}, window {ev.window}: {ev.fleet.plugins} plugins, availability "
               f"{(fleet.availability or 0) * 100:.3f}%, {ev.fleet.slo_breached} breaching")
    click.echo(f"{'plugin':<28} {'type':<12} {'avail. budget':>13} {'burn 1h':>8} "
               f"{'p95':>9} {'p99':>9} {'$/success':>10} {'anomalies':>9}")
    for p in ev.plugins:
        budget = next((s.budget_remaining for s in p.slos if s.slo == "availability"), None)
        burn = next((s.windows["1h"].burn_rate for s in p.slos if s.slo == "availability"),
                    None)
        def fmt(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)
        click.echo(f"{p.plugin:<28} {p.plugin_type:<12} {fmt(budget, '>13.1%')} "
                   f"{fmt(burn, '>8.2f')} {fmt(p.latency.p95, '>9.4f')} "
                   f"{fmt(p.latency.p99, '>9.4f')} {fmt(p.cost_per_success_usd, '>10.5f')} "
                   f"{len(p.anomalies):>9}")


@click.command()
@source_options
@click.option("--at", default=None, help="The instant evaluated (RFC 3339 or unix seconds; "
              "default now, or the end of a file source's data).")
@click.option("--window", default="7d", show_default=True,
              help="Window for trends, anomalies and latency regressions.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--serve", is_flag=True, help="Keep evaluating and export the results as "
              "Prometheus metrics.")
@click.option("--listen", default="127.0.0.1:9464", show_default=True, help="HOST:PORT for "
              "--serve.")
@click.option("--interval", "interval_s", type=float, default=60.0, show_default=True,
              help="Seconds between evaluations with --serve.")
@click.option("--shard", metavar="K/N", default=None,
              help="Evaluate only the plugins whose name hashes to K of N (N replicas split a "
                   "fleet; docs/evaluator.md, \"Fleets\").")
@click.option("--state", "state", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="With --serve --prometheus: keep the fetched series in this "
              "file, so a restart fetches only what is new.")
@materiality_option
@format_option
@handles_errors
def evaluate(prometheus: str | None, openmetrics_file: str | None, parquet_dir: str | None,
             authorization: str | None, timeout_s: float, retries: int, step_s: int, at: str | None,
             window: str, workers: int, serve: bool, listen: str, interval_s: float,
             shard: str | None, state: Path | None, materiality: Path | None, fmt: str) -> None:
    """SLO budgets and burn rates, latency, cost, anomalies and trends, per plugin and fleet."""
    floors = materiality_floors(materiality)  # a bad file is refused before any work
    source = telemetry_source(prometheus, openmetrics_file, parquet_dir, authorization,
                              timeout_s, retries, step_s)
    if shard:
        from evaluator.shard import parse_shard

        parse_shard(shard)  # a bad shard is refused before any work
    if state is not None and not (serve and source.kind == "prometheus"):
        raise PluginopsError(Code.STATE_FILE_INVALID, "--state keeps the series --serve fetched "
                             "from a store", where="--state",
                             next_step="use --state with --serve --prometheus URL")
    if not serve:
        run = evaluated_run(source, at, window, workers, floors, shard)
        if fmt == "json":
            emit_json(run.evaluation.model_dump(mode="json"))
        else:
            _text(run)
        return
    from evaluator.service import serve as serve_forever

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise PluginopsError(Code.LISTEN_INVALID, f"{listen!r} is not HOST:PORT", where="--listen",
                             next_step="write e.g. 127.0.0.1:9464")
    rolling = _rolling(source, window, state)
    saved = [-math.inf]

    def cycle() -> Evaluation:
        run = evaluated_run(source, at, window, workers, floors, shard, rolling)
        if rolling is not None:
            cost = rolling.last
            note(f"fetched {cost.points} points in {cost.requests} requests "
                 f"({'the whole span' if cost.full else 'what is new'})")
            if state is not None and time.monotonic() - saved[0] >= STATE_EVERY_S:
                _save(rolling, state)
                saved[0] = time.monotonic()
        return run.evaluation

    serve_forever(cycle, host, int(port), interval_s, note)
    if rolling is not None and state is not None and rolling.end_s is not None:
        _save(rolling, state)  # stopped: the next start fetches only what is new


STATE_EVERY_S = 600.0  # how often --serve rewrites its --state file


def _save(rolling: RollingTelemetry, state: Path) -> None:
    """A state file that cannot be written costs a full fetch at the next start, not a cycle."""
    try:
        rolling.save(state)
        note(f"saved {rolling.points} points to {state}")
    except OSError as exc:
        note(f"cannot save the state to {state}: {exc.strerror or exc}")


def _rolling(source: Source, window: str, state: Path | None) -> RollingTelemetry | None:
    """What `--serve` keeps between cycles: a store's series (files are read whole anyway)."""
    if source.kind != "prometheus":
        return None
    from collector.rolling import FINE_S, RollingTelemetry
    from collector.source import client_for
    from evaluator import recorded
    from evaluator.run import lookback_s

    client = client_for(source)
    try:
        records = not recorded.read(client, time.time()).empty
    except PluginopsError as exc:  # the store is down: cycles will say so; keep every step
        note(f"cannot ask the store for recorded series yet: {exc.message}")
        records = False
    rolling = RollingTelemetry(client, lookback_s(load_slos(SLO_DIR),
                                          _settings(source, window, materiality_floors(None))),
                               source.step_s, fine_s=FINE_S if records else None)
    note("the store records the SLO rules: raw series are kept at every step for "
         f"{FINE_S / 3600:g} h and hourly before" if records else
         "the store records no SLO rules: raw series are kept at every step over the span")
    if state is not None and rolling.load(state):
        note(f"loaded {rolling.points} points from {state}, up to "
             f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(rolling.end_s or 0))}")
    return rolling
