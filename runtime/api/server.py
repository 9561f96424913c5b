"""Serving the API in production: waitress, one process with a bounded pool of threads.

Why waitress and not gunicorn: the runtime keeps state that must live in exactly one process:
the warm sandbox workers (a pool of child processes per plugin) and the Prometheus registry
the executions count into. gunicorn's model is a master forking workers; even with one worker
and threads, signals, readiness and `/metrics` would belong to a process the master replaces
at will. waitress serves from the process that built the app, with a fixed number of threads,
a connection limit and a request-body limit enforced before the application sees the body.

Shutdown drains: on SIGTERM or SIGINT the server stops taking work (readiness answers 503, every
new request 503 with `Retry-After`), lets the requests in flight finish and their responses
reach the client, then returns. Past the grace period it returns anyway; an install cut short
then is rolled back by the journal at the next start, as after a crash."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask
from werkzeug.wsgi import ClosingIterator

from contracts.codes import Code, http_code
from contracts.errors import PluginopsError
from runtime.api.access import OPEN_PATHS
from runtime.api.balance import ConnectionShare

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

RETRY_AFTER_S = 5
# Answered while draining: a probe must see the process is alive, Prometheus its last figures
# (readiness is not: it answers 503, so load balancers stop sending work).
ALWAYS_OPEN = OPEN_PATHS - {"/readyz"}


@dataclass(frozen=True)
class Limits:
    threads: int = 16  # requests served at once; more wait in the accept queue
    connection_limit: int = 256  # open connections; beyond, new ones wait to be accepted
    max_body_bytes: int = 1 << 20  # 413 above, before the body is read (or as it streams)
    channel_timeout_s: int = 60  # an idle or stalled connection is closed after this
    grace_s: float = 30.0  # how long a shutdown waits for the requests in flight


def _error_body(code: str, message: str, where: str, next_step: str) -> bytes:
    """The API's error shape (`PluginopsError.to_dict`) for answers the app never sees."""
    error = PluginopsError(code, message, where=where, next_step=next_step)
    return json.dumps({"error": error.to_dict()}).encode()


def _json_error(start_response: StartResponse, status: str, code: str, message: str,
                where: str, next_step: str, headers: list[tuple[str, str]]) -> list[bytes]:
    body = _error_body(code, message, where, next_step)
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))), *headers])
    return [body]


class Gate:
    """WSGI middleware: refuses new work while draining, and counts the requests in flight (a
    request ends when its response is closed)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.draining = threading.Event()
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if self.draining.is_set() and path not in ALWAYS_OPEN:
            return _json_error(start_response, "503 Service Unavailable", Code.SERVER_DRAINING,
                               "the server is shutting down", path,
                               f"retry in {RETRY_AFTER_S} s (another replica, or this one "
                               "once restarted)",
                               [("Retry-After", str(RETRY_AFTER_S))])
        if path in ALWAYS_OPEN:  # probes and scrapes are not work a drain waits for
            return self.app(environ, start_response)
        with self._lock:
            self._in_flight += 1
        try:
            return ClosingIterator(self.app(environ, start_response), [self._done])
        except BaseException:
            self._done()
            raise


class JsonErrorTask(ErrorTask):
    """What waitress answers by itself (a body over the limit, announced or streamed; a request
    it cannot parse) in the API's error shape instead of plain text."""

    def execute(self) -> None:
        error: Any = getattr(self.request, "error", None)
        code = Code.BODY_TOO_LARGE if error.code == 413 else http_code(error.code)
        # the code table's remedy for a body over the limit; for the rest, a generic one
        next_step = "" if error.code == 413 else "send a well-formed HTTP/1.1 request"
        body = _error_body(code, str(error.body), "request", next_step)
        self.status = f"{error.code} {error.reason}"
        self.response_headers = [*self.response_headers, ("Content-Type", "application/json")]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def _flushed(server: Any) -> bool:
    """No connection holds a request being served or bytes not yet sent."""
    for channel in list(server._map.values()):
        if getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0):
            return False
    return True


def serve(app: WsgiApp, host: str, port: int, limits: Limits,
          log: Callable[[str], None],
          show_in_flight: Callable[[Callable[[], float]], None] | None = None,
          trusted_proxy: str | None = None, listening: socket.socket | None = None,
          share: ConnectionShare | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then drain and return; `show_in_flight` is given what
    reads the requests being served (for a gauge). Behind a TLS proxy at `trusted_proxy` (an
    address, or `*`), its X-Forwarded-For and X-Forwarded-Proto name the client (what
    authentication throttles) and the scheme; from anyone else those headers are dropped.
    `listening`: a socket bound and listening already (one of several serving processes sharing
    it) instead of `host` and `port`, and `share` how many connections each of them holds (this
    one takes new connections only while it is among the least loaded)."""
    proxy: dict[str, Any] = {} if trusted_proxy is None else {
        "trusted_proxy": trusted_proxy, "trusted_proxy_count": 1,
        "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"}}
    gate = Gate(app)
    if show_in_flight is not None:
        show_in_flight(lambda: gate.in_flight)
    where: dict[str, Any] = {"host": host, "port": port} if listening is None else {
        "sockets": [listening]}
    server: Any = create_server(
        gate, **where, threads=limits.threads,
        connection_limit=limits.connection_limit,
        max_request_body_size=limits.max_body_bytes,
        channel_timeout=limits.channel_timeout_s, ident="pluginops",
        clear_untrusted_proxy_headers=True, expose_tracebacks=False, **proxy)
    server.channel_class = JsonErrorChannel
    if share is not None:
        listens = server.readable

        def readable() -> bool:
            return bool(listens()) and share.may_accept(len(server.active_channels))

        server.readable = readable
    stop_at: list[float] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stop_at:
            gate.draining.set()
            stop_at.append(time.monotonic() + limits.grace_s)
            log(f"{signal.Signals(signum).name}: draining ({gate.in_flight} requests in "
                f"flight, up to {limits.grace_s:g} s)")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    log(f"serving on http://{server.effective_host}:{server.effective_port} "
        f"({limits.threads} threads, at most {limits.connection_limit} connections)")
    try:
        while True:
            wasyncore.loop(timeout=0.2, map=server._map, count=1)
            if stop_at and ((gate.in_flight == 0 and _flushed(server))
                            or time.monotonic() > stop_at[0]):
                break
        left = gate.in_flight
        log("drained" if not left else f"grace period over with {left} requests in flight")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
