"""Warm workers, one pool per plugin version and grant set: an execution takes an idle worker or
starts one, and gives it back unless it died, timed out, has used half its CPU allowance, or may
have started processes (a worker whose plugin may start processes serves one request only, so
nothing it started outlives that request). Closing the pool ends every worker it started, idle
or not."""

from __future__ import annotations

import threading
from dataclasses import replace

from runtime.sandbox.containment import Containment
from runtime.sandbox.worker import Worker, WorkerSpec
from runtime.sandbox.worker_main import CPU_BUDGET_EXECUTIONS


def _key(spec: WorkerSpec) -> str:
    # A frozen dataclass's repr names every field: the same grants give the same key.
    return repr(spec)


class WorkerPool:
    def __init__(self, max_idle: int = 1, containment: Containment | None = None) -> None:
        self.max_idle = max_idle
        self._idle: dict[str, list[Worker]] = {}
        self._started: list[Worker] = []
        self._lock = threading.Lock()
        self._serial = 0
        self._containment = containment

    @property
    def containment(self) -> Containment:
        with self._lock:
            if self._containment is None:
                self._containment = Containment()
            return self._containment

    def acquire(self, spec: WorkerSpec) -> Worker:
        key = _key(spec)
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                worker = idle.pop()
                if worker.alive:
                    return worker
                worker.kill()
            self._serial += 1
            serial = self._serial
        run_dir = spec.run_dir / f"w{serial}"
        worker = Worker(replace(spec, run_dir=run_dir), self.containment)
        with self._lock:
            ended = [w for w in self._started if not w.alive]
            self._started = [w for w in self._started if w.alive]
            self._started.append(worker)
        for gone in ended:  # exited on its own: reap it and free its cell
            gone.kill()
        return worker

    def release(self, spec: WorkerSpec, worker: Worker) -> None:
        cpu_cap = float(spec.limits["cpu_seconds"]) * CPU_BUDGET_EXECUTIONS
        if not worker.alive or worker.cpu_total_s > cpu_cap / 2 or spec.processes:
            worker.stop()
            return
        with self._lock:
            idle = self._idle.setdefault(_key(spec), [])
            if len(idle) < self.max_idle:
                idle.append(worker)
                return
        worker.stop()

    def close(self) -> None:
        with self._lock:
            workers = self._started
            self._started = []
            self._idle.clear()
            containment = self._containment
        for worker in workers:
            worker.stop()
        if containment is not None:
            containment.close()
