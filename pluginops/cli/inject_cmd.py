"""`pluginops inject`: drive faults into the live stack and prove the right alerts fire."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from contracts.errors import EXIT_FAILED, PluginopsError
from contracts.files import workers_may_enter
from pluginops.cli.common import emit_json, format_option, handles_errors, note


@click.command()
@click.option("--scenario", "scenarios", multiple=True, required=True,
              type=click.Choice(["error-spike", "latency-regression", "cost-spike",
                                 "install-failure", "policy-violation-burst",
                                 "telemetry-outage", "clean", "all"]))
@click.option("--local", is_flag=True,
              help="Start the whole stack here (runtime, Prometheus, Alertmanager, a webhook "
                   "sink) in the fast profile, and stop it after.")
@click.option("--runtime", "runtime_url", help="A running runtime (`pluginops serve "
              "--allow-fault-injection` with chaos-monkey, snoop and json-transform installed).")
@click.option("--prometheus", "prometheus_url", help="The Prometheus scraping it.")
@click.option("--alertmanager", "alertmanager_url", help="The Alertmanager it alerts.")
@click.option("--token", envvar="PLUGINOPS_TOKEN", show_envvar=True,
              help="An operator's API token for --runtime.")
@click.option("--rate", type=click.FloatRange(1, 200), default=20.0, show_default=True,
              help="Executions per second of background traffic.")
@click.option("--clean-seconds", type=click.FloatRange(5, 86400), default=60.0,
              show_default=True, help="How long the clean scenario runs traffic and watches "
              "for alerts that should not fire.")
@click.option("--keep", type=click.Path(path_type=Path, file_okay=False),
              help="Keep the local stack's files (logs, TSDB) in this folder.")
@click.option("--record", "record_home",
              type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="A runtime home: record the drill's incidents (start, alert, time to detect) "
                   "there, for the scorecard's mean time to detect (`pluginops kpi`).")
@format_option
@handles_errors
def inject(scenarios: tuple[str, ...], local: bool, runtime_url: str | None,
           prometheus_url: str | None, alertmanager_url: str | None, token: str | None,
           rate: float, clean_seconds: float, keep: Path | None, record_home: Path | None,
           fmt: str) -> None:
    """Inject faults and report, per scenario, the expected alert, whether it fired, the time
    to detect, and any unexpected alert. Exit 1 when one is missing or an unexpected one pages.

    With --local each scenario runs on a fresh local stack; otherwise against the stack at
    --runtime, --prometheus and --alertmanager, one scenario after another.
    """
    from stack import scenarios as library
    from stack.stack import Stack, local_stack

    remote = (runtime_url, prometheus_url, alertmanager_url)
    if local == any(remote) or (not local and not all(remote)):
        raise PluginopsError("USAGE", "give --local, or all of --runtime, --prometheus and "
                             "--alertmanager", where="inject",
                             next_step="e.g. pluginops inject --local --scenario clean")
    if not local and not token:
        raise PluginopsError("USAGE", "a running runtime needs an operator's API token",
                             where="--token", next_step="pass --token or set PLUGINOPS_TOKEN "
                             "(`pluginops token create --user NAME --role operator`)")
    names = list(library.SCENARIOS) if "all" in scenarios else list(dict.fromkeys(scenarios))
    results = []
    for name in names:
        if not local:
            stack = Stack(str(runtime_url).rstrip("/"), str(prometheus_url).rstrip("/"),
                          str(alertmanager_url).rstrip("/"), rate, token=str(token))
            result = library.run(stack, name, clean_seconds)
            results.append(result)
            note(f"{name}: {'ok' if result.ok else 'FAILED'}")
            continue
        folder = (keep / name) if keep else \
            workers_may_enter(Path(tempfile.mkdtemp(prefix=f"inject-{name}-")))
        note(f"{name}: starting the local stack in {folder}")
        with local_stack(folder, rate=rate, history=library.HISTORY[name]) as stack:
            note(f"{name}: runtime {stack.runtime}, Prometheus {stack.prometheus}, "
                 f"Alertmanager {stack.alertmanager}")
            result = library.run(stack, name, clean_seconds)
        results.append(result)
        note(f"{name}: {'ok' if result.ok else 'FAILED'}")
    drill: dict[str, str | int] = {}
    if record_home is not None:
        from stack import drill as drill_record

        drill_id, count = drill_record.record(record_home, results)
        drill = {"drill": drill_id, "incidents": count, "home": str(record_home)}
        note(f"recorded {count} incident(s) of drill {drill_id} in {record_home}")
    if fmt == "json":
        emit_json({"results": [r.to_dict() for r in results], **drill})
    else:
        for result in results:
            click.echo(f"{result.scenario}: {'ok' if result.ok else 'FAILED'}")
            for item in result.expected:
                when = (f"fired after {item['time_to_detect_s']} s (webhook "
                        f"{item['time_to_webhook_s']} s)" if item["fired"] else "DID NOT FIRE")
                click.echo(f"  expected {item['alert']} {item['labels']}: {when}")
            for labels in result.unexpected:
                click.echo(f"  unexpected {labels.get('alertname')} {labels}")
            for key, value in result.notes.items():
                click.echo(f"  {key}: {value}")
    if not all(r.ok for r in results):
        sys.exit(EXIT_FAILED)
