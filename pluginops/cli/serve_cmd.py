"""`pluginops serve`: the runtime's HTTP API."""

from __future__ import annotations

import os
import platform
import secrets
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from prometheus_client import ProcessCollector

from contracts.catalogue import BUILD_INFO, HTTP_REQUESTS_IN_FLIGHT
from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.files import atomic_write_bytes
from contracts.layout import Layout
from contracts.version import __version__
from pluginops.budgets import budget_reader, incident_reader, trend_reader
from pluginops.cli import wiring
from pluginops.cli.common import (
    handles_errors,
    home_option,
    note,
    registry_dir,
    registry_option,
)
from pluginops.cli.preflight_cmd import resolve_host
from runtime.api import prefork, server
from runtime.api.app import ApiConfig, create_app
from runtime.api.balance import ConnectionShare
from runtime.api.prefork import fresh_folder, listening_socket
from runtime.api.server import Limits
from runtime.auth.sessions import Sessions
from runtime.auth.tokens import TokenStore
from runtime.bake.canary import Canary
from runtime.bake.supervisor import Supervisor, through
from runtime.descriptors import raise_soft_limit, workers_within
from runtime.install.journal import Journal
from runtime.install.service import Installer
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.executor import Executor
from runtime.sandbox.run_folders import remove_orphans
from runtime.telemetry.durable import register_durable_metrics
from runtime.telemetry.metrics import SHARED_DIR_ENV


def session_secret(home: Path) -> bytes:
    """The key signing UI sessions: made once per home, readable by its owner only."""
    path = Layout(home).session_key
    if not path.exists():
        atomic_write_bytes(path, secrets.token_bytes(32), mode=0o600)
    return path.read_bytes()


@click.command()
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@registry_option
@click.option("--trust", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              multiple=True)
@click.option("--allow-unsigned", is_flag=True)
@click.option("--grafana-url", envvar="PLUGINOPS_GRAFANA_URL", show_envvar=True,
              help="Grafana's base URL: the UI links each plugin to its dashboard.")
@click.option("--prometheus-url", envvar="PLUGINOPS_PROMETHEUS_URL", show_envvar=True,
              help="The Prometheus (or compatible store) running the rules: the UI shows each "
                   "plugin's budgets, the API and the UI its SLO trends.")
@click.option("--allow-fault-injection", is_flag=True,
              help="Let install and update requests ask a phase to fail (fault injection).")
@click.option("--threads", type=click.IntRange(1, 256), default=Limits.threads,
              show_default=True, help="Requests served at once.")
@click.option("--connection-limit", type=click.IntRange(1, 65535),
              default=Limits.connection_limit, show_default=True,
              help="Open connections at most; more wait to be accepted.")
@click.option("--max-body", "max_body", type=click.IntRange(1, 1 << 30),
              default=Limits.max_body_bytes, show_default=True,
              help="Largest request body in bytes (413 above, before it is read).")
@click.option("--grace", "grace_s", type=click.FloatRange(0, 3600), default=Limits.grace_s,
              show_default=True, help="Seconds SIGTERM waits for requests in flight.")
@click.option("--secure-cookies", is_flag=True, envvar="PLUGINOPS_SECURE_COOKIES",
              show_envvar=True,
              help="Mark the UI's session cookie Secure (when clients reach it over HTTPS, e.g. "
                   "through a TLS proxy).")
@click.option("--trusted-proxy", envvar="PLUGINOPS_TRUSTED_PROXY", show_envvar=True,
              metavar="ADDRESS",
              help="The TLS proxy in front (an address, or '*'): its X-Forwarded-For and "
                   "X-Forwarded-Proto name the client and the scheme.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Serving processes sharing the port, each with its own threads and warm "
                   "workers: one process uses one core at most.")
@click.option("--listen-fd", type=int, hidden=True)  # a serving process of a supervisor
@click.option("--process-index", type=click.IntRange(0), default=0, hidden=True)
@home_option
@handles_errors
def serve(listen: str, port: int, registry: str | None, trust: tuple[Path, ...],
          allow_unsigned: bool, grafana_url: str | None, prometheus_url: str | None,
          allow_fault_injection: bool, threads: int, connection_limit: int, max_body: int,
          grace_s: float, secure_cookies: bool, trusted_proxy: str | None, processes: int,
          listen_fd: int | None, process_index: int, home: Path) -> None:
    """Serve the JSON API (installs, status, history) and /metrics."""
    host = resolve_host(None, None)
    reg = registry_dir(registry, home)
    if processes > 1 and listen_fd is None:
        _supervise(click.get_current_context(), home, reg, host, trust, allow_unsigned, listen,
                   port, processes, grace_s)
        return

    deps = wiring.executor_deps(home)
    deps.canary = Canary(Layout(home).bakes_db)  # baking plugins: two versions, compared
    executor = Executor(deps)
    fits = workers_within(raise_soft_limit(), threads, connection_limit)
    if deps.pool.limits.max_workers > fits:  # a pool that cannot open its pipes fails requests
        note(f"open-file limit: at most {fits} warm workers (sandbox.pool.max_workers is "
             f"{deps.pool.limits.max_workers}); raise `ulimit -n` for more")
        deps.pool.limits = replace(deps.pool.limits, max_workers=fits)

    def installer(inject_failure: str | None = None,
                  requested_by: str | None = None) -> Installer:
        return Installer(wiring.installer_env(home, reg, host, trust, allow_unsigned,
                                              inject_failure, requested_by=requested_by,
                                              health=executor.health))

    audit = deps.audit  # one log object per process: it knows the chain head it wrote last
    if listen_fd is None:  # a supervisor did this before starting its serving processes
        _recover(installer(), audit)
    executor.prime_metrics()
    # installs, rollbacks and denials of any process (CLI, setup jobs) count: read the records
    metrics = wiring.metrics()
    exposed = metrics.exposition()
    register_durable_metrics(exposed, Layout(home), lambda: installer().env.registry)
    if metrics.shared is None:  # one process: its CPU, memory, open files and start
        ProcessCollector(registry=exposed)
    metrics.gauge(BUILD_INFO).labels(version=__version__,
                                     python=platform.python_version()).set(1)
    app = create_app(ApiConfig(installer=installer, tokens=TokenStore(home),
                               audit=audit, approvals=Approvals(Layout(home).approvals_db),
                               ui_home=home.absolute(), session_secret=session_secret(home),
                               sessions=Sessions(store=Layout(home).sessions_db),
                               grafana_url=grafana_url, slo_status=budget_reader(prometheus_url),
                               trends=trend_reader(prometheus_url),
                               incidents=incident_reader(prometheus_url),
                               metrics=exposed, executor=executor,
                               allow_fault_injection=allow_fault_injection,
                               secure_cookies=secure_cookies,
                               tracer_provider=wiring.tracer_provider(),
                               max_body_bytes=max_body,
                               private_paths={"home": home,
                                              **({"registry": reg} if isinstance(reg, Path)
                                                 else {})}))

    def prewarm() -> None:  # the busiest plugins' first executions after a start are warm
        warmed = executor.prewarm()
        if warmed:
            note(f"pre-warmed workers for {len(warmed)} plugins: {', '.join(warmed)}")

    threading.Thread(target=prewarm, name="prewarm", daemon=True).start()

    # each serving process flushes its bakes' counts; the first to decide on a bake decides
    bakes = Supervisor(deps.canary, through(lambda: installer(requested_by="bake")),
                       Journal(Layout(home).journal), audit).start()
    if listen_fd is not None:
        prefork.follow_supervisor(note)
    limits = Limits(threads=threads, connection_limit=connection_limit, max_body_bytes=max_body,
                    grace_s=grace_s)
    try:
        server.serve(app, listen, port, limits, note,
                     lambda read: metrics.read_at_scrape(metrics.gauge(HTTP_REQUESTS_IN_FLIGHT),
                                                         read),
                     trusted_proxy, *_shared_socket(listen_fd, process_index, metrics.shared))
    except OSError as exc:
        raise _listen_failed(listen, port, exc) from None
    finally:
        bakes.stop()  # the counts gathered since the last second, and their verdict
        deps.pool.close()
        audit.flush()  # the executions' records still queued
        deps.meter.flush()  # and their spend


def _shared_socket(listen_fd: int | None, index: int, shared: Path | None
                   ) -> tuple[socket.socket | None, ConnectionShare | None]:
    """A serving process of a supervisor: the socket it accepts on, and its share of the
    connections."""
    if listen_fd is None:
        return None, None
    share = ConnectionShare(prefork.connections_file(shared), index) if shared else None
    return socket.socket(fileno=listen_fd), share


def _recover(installer: Installer, audit: AuditLog) -> None:
    installer.recover()  # fail fast on a bad home or registry, before binding
    repaired = audit.repair()  # a writer killed mid-append left a torn line: mend it now
    if repaired is not None:
        note(f"audit log: a torn last line was {repaired.action} ({repaired.bytes} bytes)")
    orphans = remove_orphans(installer.env.layout.runs)  # of servers that were killed
    if orphans:
        note(f"removed {orphans} worker folders of processes no longer running")


def _supervise(ctx: click.Context, home: Path, reg: Any, host: Any, trust: tuple[Path, ...],
               allow_unsigned: bool, listen: str, port: int, processes: int,
               grace_s: float) -> None:
    """`--processes N`: recover, bind, then start N serving processes on the one socket (each
    this command with the socket's descriptor) and supervise them until stopped."""
    audit = AuditLog(Layout(home).audit_log)
    _recover(Installer(wiring.installer_env(home, reg, host, trust, allow_unsigned)), audit)
    audit.flush()
    session_secret(home)  # made once, before processes that would each make their own
    try:
        sock = listening_socket(listen, port)
    except OSError as exc:
        raise _listen_failed(listen, port, exc) from None
    shared = fresh_folder(Layout(home).serving_metrics)
    args = [*passed_options(ctx, leave_out={"processes", "listen_fd", "process_index"}),
            "--listen-fd", str(sock.fileno())]
    prefork.Supervisor(
        command=lambda index: [sys.executable, "-m", "pluginops", "serve", *args,
                               "--process-index", str(index)],
        count=processes, listening=sock, env={**os.environ, SHARED_DIR_ENV: str(shared)},
        shared=shared, log=note, grace_s=grace_s).run()
    note("stopped")


def passed_options(ctx: click.Context, leave_out: set[str]) -> list[str]:
    """The command line that gives a command the parameters this one was given."""
    args: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in leave_out or not param.opts:
            continue
        value = ctx.params.get(param.name or "")
        flag = max(param.opts, key=len)
        if param.is_flag:
            args += [flag] if value else []
        elif param.multiple:
            for item in value or ():
                args += [flag, str(item)]
        elif value is not None:
            args += [flag, str(value)]
    return args


def _listen_failed(listen: str, port: int, exc: OSError) -> PluginopsError:
    return PluginopsError(Code.LISTEN_FAILED, f"cannot listen on {listen}:{port}: "
                          f"{exc.strerror or exc}", where="--listen/--port",
                          next_step="choose a free port or address")
