"""The executor's side of one worker process: start it locked down, send executions, answer its
host calls, enforce the wall-clock limit, and kill it when it misbehaves."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contracts.codes import Code
from contracts.errors import OperationFailed
from contracts.files import make_enterable_dirs
from contracts.outcomes import ExecutionOutcome
from runtime.sandbox import protocol
from runtime.sandbox.containment import Cell, Containment
from runtime.sandbox.identity import Identity, hand_over

HostCall = Callable[[str, dict[str, Any]], dict[str, Any]]
SCRUBBED_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
START_TIMEOUT_S = 20.0
NEXT_STEPS = {
    Code.SANDBOX_IDENTITY_UNREACHABLE: "let other users enter that folder (chmod o+x), or keep "
                                    "PLUGINOPS_HOME and the interpreter outside private folders",
    Code.SANDBOX_LAYER_UNAVAILABLE: "run `pluginops host` to see which layer this machine lacks",
}


@dataclass(frozen=True)
class WorkerSpec:
    plugin: str
    version: str
    profile: str
    entrypoint: str
    package_dir: Path
    run_dir: Path
    read_paths: tuple[Path, ...]  # beyond its own scratch, inputs and report
    write_paths: tuple[Path, ...]
    processes: bool
    limits: dict[str, Any]
    layers: tuple[str, ...]
    with_inputs: bool
    with_report: bool
    api_version: str = ""
    identity: Identity | None = None  # None: the runtime's own uid (it is not root)

    @property
    def scratch(self) -> Path:
        return self.run_dir / "scratch"

    @property
    def inputs(self) -> Path | None:
        return self.run_dir / "inputs" if self.with_inputs else None

    @property
    def report(self) -> Path | None:
        return self.run_dir / "report" if self.with_report else None


@dataclass(frozen=True)
class HealthReply:
    """How a health check ended: the hook's verdict, or why there was none."""

    healthy: bool
    detail: str
    denials: list[dict[str, str]]
    timed_out: bool = False


@dataclass
class Reply:
    """How an execution ended, from the worker's result or from the executor's watch."""

    outcome: str
    output: dict[str, Any] | None
    error: dict[str, str] | None
    denials: list[dict[str, str]]
    cpu_s: float
    cpu_total_s: float


class WorkerFailed(OperationFailed):
    """The worker did not start: a missing layer, an import that failed or was denied."""

    def __init__(self, code: str, message: str, where: str, next_step: str,
                 denials: list[dict[str, str]]) -> None:
        super().__init__(code, message, where=where, next_step=next_step)
        self.denials = denials


class Worker:
    def __init__(self, spec: WorkerSpec, containment: Containment) -> None:
        self.spec = spec
        self.containment = containment
        self.cell: Cell = containment.cell()
        self.executions = 0
        self.cpu_total_s = 0.0
        self.layers: list[str] = []
        self._closed = False
        for folder in (spec.scratch, spec.inputs, spec.report):
            if folder is not None:
                make_enterable_dirs(folder)
        for folder in (spec.scratch, spec.report):  # inputs stay the runtime's: read-only
            if folder is not None:
                hand_over(folder, spec.identity)
        config = {
            "plugin": spec.plugin, "profile": spec.profile, "entrypoint": spec.entrypoint,
            "package_dir": str(spec.package_dir), "scratch": str(spec.scratch),
            "inputs": str(spec.inputs) if spec.inputs else None,
            "report": str(spec.report) if spec.report else None,
            "read_paths": [str(p) for p in (*spec.read_paths, spec.scratch, *(
                [spec.inputs] if spec.inputs else []), *([spec.report] if spec.report else []))],
            "write_paths": [str(p) for p in (*spec.write_paths, spec.scratch, *(
                [spec.report] if spec.report else []))],
            "processes": spec.processes, "limits": spec.limits, "layers": list(spec.layers),
            "api_version": spec.api_version,
            "cgroup": str(self.cell.cgroup) if self.cell.cgroup else None,
            "runtime_pid": os.getpid(),
            "identity": asdict(spec.identity) if spec.identity else None,
        }
        self.stderr_path = spec.run_dir / "worker.log"
        # the worker writes its log itself; the server keeps only the two pipes open
        with self.stderr_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-m", "runtime.sandbox.worker_main", json.dumps(config)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                env=SCRUBBED_ENV, cwd=spec.scratch, start_new_session=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in = self.process.stdin
        self._out = self.process.stdout
        first = self._read(time.monotonic() + START_TIMEOUT_S)
        if first is None or first.get("type") != "ready":
            self.kill()
            error = (first or {}).get("error", {"code": Code.WORKER_START_FAILED,
                                                "message": "the worker exited at start"})
            raise WorkerFailed(error["code"], error["message"], spec.plugin,
                               NEXT_STEPS.get(error["code"], f"see {self.stderr_path}"),
                               (first or {}).get("denials", []))
        self.layers = list(first["layers"])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self, deadline: float) -> dict[str, Any] | None:
        waiting = select.poll()  # poll(2): no descriptor of its own, unlike epoll
        waiting.register(self._out, select.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not waiting.poll(left * 1000):
                if time.monotonic() >= deadline:
                    raise TimeoutError
                continue
            line = self._out.readline(protocol.MAX_LINE)
            if not line:
                return None
            if not line.endswith(b"\n"):
                raise OverflowError
            return protocol.decode(line)

    def _send(self, message: dict[str, Any]) -> None:
        self._in.write(protocol.encode(message))
        self._in.flush()

    def _exchange(self, request: dict[str, Any], answer: str, host_call: HostCall,
                  deadline: float) -> dict[str, Any] | None:
        """Send a request, serve the worker's host calls, return its answer (None: it died)."""
        self._send(request)
        while True:
            message = self._read(deadline)
            if message is None:
                return None
            if message["type"] == "call":
                reply = host_call(str(message.get("api")), dict(message.get("args") or {}))
                self._send({"type": "reply", "id": message["id"], **reply})
            elif message["type"] == answer:
                return message

    def health(self, host_call: HostCall, wall_seconds: float) -> HealthReply:
        """Call the plugin's `health(ctx)` in this worker (already imported, locked down)."""
        try:
            message = self._exchange({"type": "health"}, "health", host_call,
                                     time.monotonic() + wall_seconds)
        except TimeoutError:
            self.kill()
            return HealthReply(False, f"health check timed out after {wall_seconds:g} s", [],
                               timed_out=True)
        except (OverflowError, BrokenPipeError, ValueError):
            message = None
        if message is None:
            self.kill()
            return HealthReply(False, f"the worker exited with {self.process.returncode} "
                                      "during the health check", [])
        return HealthReply(bool(message.get("healthy")), str(message.get("detail", "")),
                           list(message.get("denials", [])))

    def execute(self, inputs: Any, correlation_id: str, host_call: HostCall,
                wall_seconds: float) -> Reply:
        self.executions += 1
        deadline = time.monotonic() + wall_seconds
        try:
            message = self._exchange({"type": "execute", "id": self.executions,
                                      "inputs": inputs, "correlation_id": correlation_id},
                                     "result", host_call, deadline)
            if message is None:
                return self._died()
            self.cpu_total_s = float(message.get("cpu_total_s", 0.0))
            return Reply(message["outcome"], message.get("output"), message.get("error"),
                         list(message.get("denials", [])), float(message.get("cpu_s", 0.0)),
                         self.cpu_total_s)
        except TimeoutError:
            self.kill()
            return Reply(ExecutionOutcome.TIMEOUT, None, {"type": "Timeout", "message":
                                           f"wall-clock limit of {wall_seconds:g} s reached"},
                         [], 0.0, self.cpu_total_s)
        except OverflowError:
            self.kill()
            return Reply(ExecutionOutcome.DENIED, None, {"type": "OutputTooLarge", "message":
                                          "the worker's answer exceeded the protocol cap"},
                         [{"operation": "output", "target": "protocol line",
                           "rule": "limits.output_bytes"}], 0.0, self.cpu_total_s)
        except (BrokenPipeError, ValueError):
            return self._died()

    def _died(self) -> Reply:
        self.kill()
        code = self.process.returncode
        if code is not None and code < 0 and -code in (signal.SIGXCPU, signal.SIGKILL):
            return Reply(ExecutionOutcome.TIMEOUT, None, {"type": "CpuLimit", "message":
                                           f"CPU limit reached (signal {-code})"}, [], 0.0,
                         self.cpu_total_s)
        return Reply("error", None, {"type": "WorkerDied",
                                     "message": f"the worker exited with {code}"}, [], 0.0,
                     self.cpu_total_s)

    def stop(self) -> None:
        """Ask the worker to exit, then end whatever is left. Without a cgroup the tree must be
        ended while the worker is alive: once it exits its orphans are init's."""
        if self.alive and self.cell.cgroup is not None:
            try:
                self._send({"type": "stop"})
                self.process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                pass
        self.kill()

    def kill(self) -> None:
        """End the worker and every process it started (`containment`), then reap it."""
        if self._closed:
            return
        self._closed = True
        self.containment.end(self.cell, self.process.pid)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self._in, self._out):
            with contextlib.suppress(OSError):
                stream.close()
