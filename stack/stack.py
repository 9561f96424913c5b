"""The whole stack on loopback: a runtime (`pluginops serve`) with the example and fault plugins
installed, Prometheus scraping it with the generated rules, Alertmanager routing to a webhook sink.

This is the *fast* profile, for demos, CI and the fault injector: scrape and rule evaluation every
second and Alertmanager's group wait at zero. The SLO windows themselves are the real ones; an
hour of clean history is backfilled so the 1-hour window behaves as in production.
"""

from __future__ import annotations

import importlib.resources
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from alerts import conventions as c
from alerts.alertmanager import Routing, config
from alerts.generated_files import HERE as ALERTS_DIR
from alerts.render import to_yaml
from alerts.rules import Settings, generate
from alerts.spec import load_slos
from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.layout import Layout
from runtime.auth.tokens import TokenStore
from stack import history
from stack.backfill import write_blocks
from stack.history import Plugin, Target
from stack.processes import alertmanager, free_port, prometheus, wait_for_alertmanager
from stack.sink import Sink, webhook_sink

FAULT_PLUGIN = "chaos-monkey"
DENIED_PLUGIN = "snoop"
INSTALLED = ("json-transform@1.2.0", FAULT_PLUGIN, DENIED_PLUGIN)
SCRAPE_S = 1.0
EVAL_S = 1.0
# Prometheus resends firing alerts every minute by default; the fast profile every 2 s.
RESEND_DELAY = "--rules.alert.resend-delay=2s"
# The fast profile's rules: the same SLO windows and factors, shorter `for` waits.
FAST_RULES = Settings(regression_for="30s", cost_score_for="30s", cost_fallback_for="30s")


@dataclass
class Stack:
    """The URLs a scenario drives and watches. A remote stack has no sink and no process of
    ours: webhook times are then not measured, and the runtime cannot be paused."""

    runtime: str
    prometheus: str
    alertmanager: str
    rate: float
    sink: Sink | None = None
    runtime_process: subprocess.Popen[bytes] | None = None
    folder: Path | None = None
    token: str = ""  # an operator's API token for the runtime


def _pluginops(*args: str) -> str:
    exe = Path(sys.executable).parent / "pluginops"
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise PluginopsError(Code.STACK_SETUP_FAILED, f"pluginops {' '.join(args)}: "
                             f"{(done.stderr or done.stdout).strip()[-500:]}", where="stack",
                             next_step="run the same command by hand to see why")
    return done.stdout


def clean_cost(home: Path, runs: int = 300) -> float:
    """What one clean execution of the fault plugin costs here, on a warm worker as the
    runtime runs it: the backfilled cost history must match live traffic, or the cost
    detector would rightly call the difference an anomaly."""
    out = json.loads(_pluginops("run", FAULT_PLUGIN, "--repeat", str(runs), "--format", "json",
                                "--home", str(home)))
    return max(float(out["summary"]["mean_cost_usd"]), 1e-12)


def prepare_home(home: Path) -> None:
    # A throwaway home whose plugins are the bundled, tested examples: their release gates are
    # advisory here (published with an audit record), as nobody ships from this home.
    home.mkdir(parents=True, exist_ok=True)
    Layout(home).policy_file.write_text(to_yaml({"version": 1, "release_gate": "advisory"}))
    _pluginops("keygen", "--home", str(home))
    examples = Path(str(importlib.resources.files("pluginops_examples")))
    plugins = sorted(str(p) for p in (examples / "plugins").iterdir() if p.is_dir())
    faults = sorted(str(p) for p in (examples / "faults").iterdir() if p.is_dir())
    _pluginops("publish", *plugins, *faults, "--home", str(home))
    for target in INSTALLED:
        _pluginops("install", target, "--home", str(home))


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PluginopsError(Code.RUNTIME_EXITED, f"pluginops serve exited with "
                                 f"{process.returncode}", where=url, next_step="see its log")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise PluginopsError(Code.RUNTIME_NOT_READY, "not ready in time", where=url,
                         next_step="see the runtime log")


def _history(tsdb: Path, runtime_port: int, rate: float, kinds: tuple[str, ...],
             cost_usd: float) -> None:
    target = Target({"job": c.RUNTIME_JOB, "instance": f"127.0.0.1:{runtime_port}"}, rate)
    found = history.families(Plugin(FAULT_PLUGIN), [target], kinds, cost_usd, time.time(),
                             recorded_step_s=EVAL_S)
    if found:
        write_blocks(found, tsdb)


def prometheus_config(runtime_port: int, alertmanager_url: str) -> str:
    return yaml.safe_dump({
        "global": {"scrape_interval": f"{SCRAPE_S:g}s", "evaluation_interval": f"{EVAL_S:g}s"},
        "rule_files": ["rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [alertmanager_url.removeprefix("http://")]}]}]},
        "scrape_configs": [{"job_name": c.RUNTIME_JOB, "static_configs": [
            {"targets": [f"127.0.0.1:{runtime_port}"]}]}],
    }, sort_keys=False)


@contextmanager
def local_stack(folder: Path, rate: float = 20.0,
                history: tuple[str, ...] = ("slo",)) -> Iterator[Stack]:
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / "home"
    prepare_home(home)
    token, _ = TokenStore(home).create("fault-injector", "operator", "local-stack")
    runtime_port = free_port()
    if history:
        cost = clean_cost(home) if "cost" in history else 0.0
        _history(folder / "prometheus" / "tsdb", runtime_port, rate, history, cost)
    with ExitStack() as stack:
        sink, am_url = alerting(stack, folder)
        runtime_url, runtime = start_runtime(stack, folder, home, runtime_port)
        rules = folder / "rules.yml"
        rules.write_text(to_yaml(generate(load_slos(ALERTS_DIR / "slos"), FAST_RULES)))
        prom_url = stack.enter_context(prometheus(
            folder / "prometheus", prometheus_config(runtime_port, am_url), [rules],
            extra_args=(RESEND_DELAY,)))
        wait_for_alertmanager(prom_url)
        yield Stack(runtime_url, prom_url, am_url, rate, sink, runtime, folder, token)


def alerting(stack: ExitStack, folder: Path) -> tuple[Sink, str]:
    """A webhook sink and an Alertmanager routing to it with the generated routing (group wait
    zero, so a page is delivered as soon as it fires); the sink and Alertmanager's URL."""
    sink = stack.enter_context(webhook_sink())
    routing = Routing(pager_url=f"{sink.url}/{c.RECEIVER_PAGER}",
                      tickets_url=f"{sink.url}/{c.RECEIVER_TICKETS}",
                      watchdog_url=f"{sink.url}/{c.RECEIVER_WATCHDOG}",
                      group_wait="0s", group_interval="1s", repeat_interval="1h")
    return sink, stack.enter_context(alertmanager(folder / "alertmanager",
                                                  to_yaml(config(routing))))


def start_runtime(stack: ExitStack, folder: Path, home: Path, port: int,
                  name: str = "runtime") -> tuple[str, subprocess.Popen[bytes]]:
    """`pluginops serve` on loopback (fault injection allowed), stopped with the stack; its URL
    and process, once it answers."""
    log = (folder / f"{name}.log").open("ab")
    stack.callback(log.close)
    exe = Path(sys.executable).parent / "pluginops"
    process = subprocess.Popen([str(exe), "serve", "--port", str(port), "--home", str(home),
                                "--allow-fault-injection"], stdout=log, stderr=subprocess.STDOUT)
    stack.callback(_stop, process)
    url = f"http://127.0.0.1:{port}"
    _wait_http(f"{url}/readyz", process)
    return url, process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
