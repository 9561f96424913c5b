"""Helpers the docker-compose stack runs: `pluginops sink` (the webhook receiver Alertmanager
delivers to) and `pluginops traffic` (steady executions against a runtime, so the dashboards
have something to show). Both run until SIGTERM."""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType

import click

from contracts.codes import Code
from contracts.errors import PluginopsError
from pluginops.cli.common import handles_errors, note
from stack.sink import Delivery, webhook_sink
from stack.traffic import Traffic


def _wait_for_signal() -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()


@click.command()
@click.option("--listen", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=9099, show_default=True)
@handles_errors
def sink(listen: str, port: int) -> None:
    """Receive Alertmanager webhooks and print each alert as a JSON line on stdout."""

    def show(delivery: Delivery) -> None:
        click.echo(json.dumps(asdict(delivery), sort_keys=True))

    with webhook_sink(listen, port, show) as running:
        note(f"receiving webhooks on {running.url}/<receiver>")
        _wait_for_signal()


def _read_token(path: Path | None) -> str:
    if path is None:
        raise PluginopsError("USAGE", "traffic needs an operator's API token", where="--token",
                             next_step="pass --token, --token-file or set PLUGINOPS_TOKEN")
    deadline = time.monotonic() + 60
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(1)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise PluginopsError(Code.TOKEN_UNREADABLE, f"{path}: {exc.strerror}", where=str(path),
                             next_step="create it with `pluginops token create ... > FILE`"
                             ) from None


@click.command()
@click.option("--runtime", required=True, metavar="URL", help="The runtime's API, e.g. "
              "http://runtime:8080.")
@click.option("--plugin", "plugins", multiple=True, required=True,
              help="A plugin to execute (repeat for several).")
@click.option("--per-second", type=click.FloatRange(0.01, 1000), default=2.0, show_default=True,
              help="Executions per second, per plugin.")
@click.option("--token", envvar="PLUGINOPS_TOKEN", show_envvar=True,
              help="An operator's API token.")
@click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False),
              help="A file holding the token (waited for up to a minute).")
@handles_errors
def traffic(runtime: str, plugins: tuple[str, ...], per_second: float, token: str | None,
            token_file: Path | None) -> None:
    """Execute plugins steadily against a runtime until stopped."""
    secret = token or _read_token(token_file)
    drivers = [Traffic(runtime.rstrip("/"), plugin, per_second, secret).start()
               for plugin in plugins]
    note(f"executing {', '.join(plugins)} at {per_second:g}/s each against {runtime}")
    try:
        _wait_for_signal()
    finally:
        for driver in drivers:
            driver.stop()
        for plugin, driver in zip(plugins, drivers, strict=True):
            note(f"{plugin}: {dict(driver.outcomes)}")
