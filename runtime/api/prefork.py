"""Several serving processes on one port (`pluginops serve --processes N`).

One Python process serves on one core at most (the interpreter lock), and more request threads
in it make it slower, not faster: each blocking step of a request hands the lock to another
thread (docs/benchmarks.md). So the supervisor binds the port once and starts N serving
processes that accept on that one listening socket (each connection goes to one of them), each
with its own request threads, warm workers and metrics, the metrics written to a folder shared by
all of them that `/metrics` of any of them sums (`runtime/telemetry/metrics.py`).

The supervisor restarts a serving process that ends while it is not stopping (the connections
that process held are lost; its counts stay in the shared folder, so no counter goes back), and
gives up when they keep failing at start. SIGTERM and SIGINT are passed on, every process drains
as a single one does, and the supervisor returns once all have ended (SIGKILL past the grace
period and a margin)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from contracts.codes import Code
from contracts.errors import OperationFailed
from runtime.api import balance
from runtime.sandbox.run_folders import running

QUICK_EXIT_S = 10.0  # a process that ends this soon after its start failed to start
QUICK_EXITS_ALLOWED = 3  # in a row, then the supervisor gives up
RESTART_DELAY_S = 1.0
STOP_MARGIN_S = 10.0  # past the grace period, before SIGKILL
POLL_S = 0.1
SUPERVISOR_ENV = "PLUGINOPS_SUPERVISOR_PID"  # in a serving process: its supervisor


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A TCP socket bound to host:port and listening, inheritable by serving processes."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def connections_file(shared: Path) -> Path:
    """Where the processes of the supervisor sharing `shared` say how many connections each
    holds (`runtime.api.balance`)."""
    return shared / "connections.slots"


def follow_supervisor(log: Callable[[str], None], every_s: float = 1.0) -> None:
    """A serving process whose supervisor ended (killed: it had no time to stop it) drains and
    ends too, rather than serve on unsupervised; also when that happened before it started."""
    supervisor = int(os.environ.get(SUPERVISOR_ENV, "0")) or os.getppid()

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(every_s)
        log(f"the supervisor (pid {supervisor}) ended: stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="follow-supervisor", daemon=True).start()


def fresh_folder(parent: Path) -> Path:
    """This supervisor's shared metrics folder (`parent/<pid>`), emptied; folders of
    supervisors no longer running are removed."""
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.iterdir():
        if old.name.isdigit() and not running(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    folder = parent / str(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


@dataclass
class Serving:
    index: int
    process: subprocess.Popen[bytes]
    started: float


@dataclass
class Supervisor:
    """`command(index)`: the command line of serving process `index`; `env`: its environment
    (the shared folder named in it)."""

    command: Callable[[int], list[str]]
    count: int
    listening: socket.socket
    env: dict[str, str]
    shared: Path
    log: Callable[[str], None]
    grace_s: float
    clock: Callable[[], float] = time.monotonic
    _serving: dict[int, Serving] = field(default_factory=dict)
    _stop_at: list[float] = field(default_factory=list)
    _quick_exits: int = 0

    @property
    def connections(self) -> Path:
        return connections_file(self.shared)

    def run(self) -> None:
        """Serve until a signal stops every process; OperationFailed when they cannot start."""
        balance.create(self.connections, self.count)
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self.count):
                self._start(index)
            while self._serving:
                self._watch()
                time.sleep(POLL_S)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._kill_all()
            self.listening.close()
        if self._quick_exits >= QUICK_EXITS_ALLOWED:
            raise OperationFailed(Code.SERVING_PROCESSES_FAILED,
                                  f"serving processes ended within {QUICK_EXIT_S:g} s of their "
                                  f"start {self._quick_exits} times in a row",
                                  where="serve --processes")

    def pids(self) -> list[int]:
        return [s.process.pid for s in self._serving.values()]

    def _start(self, index: int) -> None:
        process = subprocess.Popen(self.command(index),
                                   env={**self.env, SUPERVISOR_ENV: str(os.getpid())},
                                   pass_fds=(self.listening.fileno(),))
        self._serving[index] = Serving(index, process, self.clock())
        self.log(f"serving process {index} started (pid {process.pid})")

    def _watch(self) -> None:
        for index, serving in list(self._serving.items()):
            code = serving.process.poll()
            if code is None:
                continue
            del self._serving[index]
            balance.mark_absent(self.connections, index)
            mark_process_dead(serving.process.pid, str(self.shared))  # type: ignore[no-untyped-call]
            if self._stop_at:
                continue
            quick = self.clock() - serving.started < QUICK_EXIT_S
            self._quick_exits = self._quick_exits + 1 if quick else 0
            self.log(f"serving process {index} (pid {serving.process.pid}) ended with {code}")
            if self._quick_exits >= QUICK_EXITS_ALLOWED:
                self._stop("serving processes keep failing")
                continue
            time.sleep(RESTART_DELAY_S if quick else 0)
            if not self._stop_at:  # no signal came while it waited
                self._start(index)
        if self._stop_at and self.clock() > self._stop_at[0]:
            self._kill_all()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop(f"{signal.Signals(signum).name}: stopping {len(self._serving)} serving "
                   "processes")

    def _stop(self, why: str) -> None:
        if self._stop_at:
            return
        self._stop_at.append(self.clock() + self.grace_s + STOP_MARGIN_S)
        self.log(why)
        for serving in self._serving.values():
            if serving.process.poll() is None:
                serving.process.send_signal(signal.SIGTERM)

    def _kill_all(self) -> None:
        for serving in list(self._serving.values()):
            if serving.process.poll() is None:
                serving.process.kill()
            serving.process.wait()
            mark_process_dead(serving.process.pid, str(self.shared))  # type: ignore[no-untyped-call]
        self._serving.clear()
