"""Warm workers for every plugin version and grant set (a key), within bounds a host can afford.

- An execution takes an idle worker of its key (a hit) or starts one (a miss: a cold start,
  timed). A key has at most `per_plugin` workers, busy and idle; past that, an execution waits
  up to `wait_s` for one to come free, then is refused with WORKERS_BUSY (503, Retry-After).
- All keys together have at most `max_workers` workers, with at most `memory_mb` of resident
  memory (measured when a worker comes back): to start another, the least recently used idle
  worker of any key is stopped (an eviction); with none idle, the execution waits as above.
- A worker comes back to the pool unless it died, timed out, has used half its CPU allowance,
  or may have started processes (those serve one request: nothing they started outlives it).
- A reaper pass stops workers idle for longer than `idle_s`, except the last idle worker of the
  `keep_warm` keys executed most; a stopped worker's run folder (`run_folders`) is deleted.
- `prewarm` starts an idle worker for a key that has none, only where the pool has room without
  evicting anyone or passing three quarters of its memory (serve pre-warms the busiest plugins).
- Each worker holds two file descriptors in the server (its pipes): a pool of `max_workers`
  fits under a 1,024 open-file limit. Closing the pool ends every worker it started.
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from contracts.catalogue import (
    POOL_ACQUISITIONS,
    POOL_EVICTIONS_TOTAL,
    POOL_MEMORY,
    POOL_STATES,
    POOL_WORKERS,
    WORKER_START_DURATION,
    MetricSpec,
)
from contracts.codes import Code
from contracts.errors import Unavailable
from runtime.sandbox.containment import Containment
from runtime.sandbox.run_folders import worker_folder
from runtime.sandbox.worker import Worker, WorkerSpec
from runtime.sandbox.worker_main import CPU_BUDGET_EXECUTIONS
from runtime.telemetry.metrics import Metrics

PAGE = 4096
RSS_EVERY = 16  # a worker's resident memory is read again after this many executions


@dataclass(frozen=True)
class PoolLimits:
    max_workers: int = 256
    per_plugin: int = 8
    memory_mb: int = 4096
    idle_s: float = 300.0
    wait_s: float = 5.0
    keep_warm: int = 8


def pool_key(spec: WorkerSpec) -> str:
    """Workers are shared by specs with the same key. A frozen dataclass's repr names every
    field: the same grants give the same key. (Computing it costs tens of microseconds: an
    execution's plan keeps it.)"""
    return repr(spec)


def resident_bytes(pid: int) -> int:
    """A process's resident memory (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class _Entry:
    worker: Worker
    key: str
    rss: int = 0
    last_used: float = 0.0


class WorkerPool:
    def __init__(self, limits: PoolLimits | None = None, containment: Containment | None = None,
                 metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or PoolLimits()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        # executions waiting for a worker, per key (each wakes only when its key can proceed)
        self._waiting: dict[str, tuple[threading.Condition, int]] = {}
        self._idle: dict[str, list[_Entry]] = {}  # per key, most recently used last
        self._busy: dict[int, _Entry] = {}  # by id(worker)
        self._per_key: Counter[str] = Counter()  # busy + idle + starting, per key
        self._total = 0  # busy + idle + starting
        self._uses: Counter[str] = Counter()  # executions per key (which to keep warm)
        self._serial = 0
        self._cells: list[Containment] = [containment] if containment else []  # made lazily
        self._metrics = metrics
        self._clock = clock
        self._closed = False
        self._stopping = threading.Event()
        self._reaper: threading.Thread | None = None
        # a pool dropped without close() (a command's, a test's) still ends its workers
        self._finalizer = weakref.finalize(self, _end_all, self._cond, self._idle, self._busy,
                                           self._cells, self._stopping)
        if metrics is not None:
            me = weakref.ref(self)  # the registry must not keep a dropped pool alive
            for state in POOL_STATES:
                metrics.read_at_scrape(metrics.gauge(POOL_WORKERS).labels(state=state),
                                       functools.partial(_gauge, me, state))
            metrics.read_at_scrape(metrics.gauge(POOL_MEMORY),
                                   functools.partial(_gauge, me, "memory"))

    # --- what the executor calls ---

    @property
    def containment(self) -> Containment:
        with self._cond:
            if not self._cells:
                self._cells.append(Containment())
            return self._cells[0]

    def acquire(self, spec: WorkerSpec, key: str = "") -> Worker:
        key = key or pool_key(spec)
        deadline = self._now() + self.limits.wait_s
        with self._cond:
            if self._reaper is None:
                self._reaper = threading.Thread(
                    target=_reap_now_and_then, args=(weakref.ref(self), self._stopping,
                                                     self.limits.idle_s),
                    daemon=True, name="worker-reaper")
                self._reaper.start()
            self._uses[key] += 1
            while True:
                entry = self._take_idle(key)
                if entry is not None:
                    self._count(POOL_ACQUISITIONS, result="hit")
                    return entry.worker
                if self._per_key[key] < self.limits.per_plugin and self._room_for_one():
                    self._per_key[key] += 1
                    self._total += 1
                    self._serial += 1
                    serial = self._serial
                    break
                left = deadline - self._now()
                if left <= 0:
                    self._count(POOL_ACQUISITIONS, result="busy")
                    raise Unavailable(Code.WORKERS_BUSY, f"all {self._per_key[key]} workers "
                                      f"of {spec.plugin} are busy", where=spec.plugin,
                                      retry_after_s=max(1, round(self.limits.wait_s)))
                self._wait_for(key, left)
        return self._start(spec, key, serial)

    def prewarm(self, spec: WorkerSpec, key: str = "") -> bool:
        """Start an idle worker for a key that has none, ahead of demand; False when the pool is
        short of room (a guess about demand never costs a worker someone uses) or the worker
        does not start."""
        key = key or pool_key(spec)
        with self._cond:
            if self._closed or self._per_key[key] or self._total >= self.limits.max_workers \
                    or self.resident() >= self.limits.memory_mb * 1024 * 1024 * 3 // 4:
                return False
            self._per_key[key] += 1
            self._total += 1
            self._serial += 1
            serial = self._serial
        try:
            worker = self._start(spec, key, serial, demanded=False)
        except Exception:  # an execution of it will say why, with its own error
            return False
        self.release(spec, worker, key)
        return True

    def release(self, spec: WorkerSpec, worker: Worker, key: str = "") -> None:
        """Give a worker back after an execution, or end it (a dead one too: its slot frees)."""
        key = key or pool_key(spec)
        cpu_cap = float(spec.limits["cpu_seconds"]) * CPU_BUDGET_EXECUTIONS
        # a worker that died during the execution was reaped there: no waitpid needed here
        alive = worker.process.returncode is None
        keep = alive and worker.cpu_total_s <= cpu_cap / 2 and not spec.processes
        # measured now and then (outside the lock): a worker's memory changes slowly
        measure = keep and worker.executions % RSS_EVERY == 0
        rss = resident_bytes(worker.process.pid) if measure else 0
        with self._cond:
            entry = self._busy.pop(id(worker), None)
            if entry is None or self._closed:
                keep = False
            elif keep:
                entry.rss = rss if measure else entry.rss
                entry.last_used = self._now()
                self._idle.setdefault(key, []).append(entry)
                for evicted in self._over_memory():
                    self._end_later(evicted, "memory")
                self._wake(key)  # one waiter of this key can take it
                return
        self._end(worker, key if entry is not None else None)

    def reap(self) -> int:
        """Stop workers idle for longer than `idle_s` (the busiest keys keep one warm)."""
        now = self._now()
        stale: list[_Entry] = []
        with self._cond:
            busiest = {key for key, _ in self._uses.most_common(self.limits.keep_warm)}
            # recent use counts most: halve the tallies each pass (and forget the unused)
            self._uses = Counter({k: n // 2 for k, n in self._uses.items() if n > 1})
            for key, entries in self._idle.items():
                keep_one = key in busiest
                for entry in list(entries):
                    if now - entry.last_used <= self.limits.idle_s:
                        continue
                    if keep_one and len(entries) == 1:
                        continue
                    entries.remove(entry)
                    stale.append(entry)
            self._drop_empty()
        for entry in stale:
            self._count(POOL_EVICTIONS_TOTAL, reason="idle")
            self._end(entry.worker, entry.key)
        return len(stale)

    def count(self, state: str) -> int:
        with self._cond:
            if state == POOL_STATES[0]:
                return sum(len(entries) for entries in self._idle.values())
            return len(self._busy)

    def resident(self) -> int:
        with self._cond:
            return sum(e.rss for entries in self._idle.values() for e in entries) + \
                sum(e.rss for e in self._busy.values())

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for condition, _ in self._waiting.values():
                condition.notify_all()
        self._finalizer()

    # --- inside ---

    def _now(self) -> float:
        return self._clock()

    def _count(self, spec: MetricSpec, **labels: str) -> None:
        if self._metrics is not None:
            self._metrics.counter(spec).labels(**labels).inc()

    def _take_idle(self, key: str) -> _Entry | None:
        entries = self._idle.get(key)
        while entries:
            entry = entries.pop()
            if entry.worker.alive:
                self._busy[id(entry.worker)] = entry
                return entry
            self._end_later(entry, None)
        return None

    def _room_for_one(self) -> bool:
        """Below max_workers, or made so by evicting the least recently used idle worker."""
        while self._total >= self.limits.max_workers:
            victim = self._least_recent_idle()
            if victim is None:
                return False
            self._end_later(victim, "lru")
        return True

    def _least_recent_idle(self) -> _Entry | None:
        candidates = [e for entries in self._idle.values() for e in entries]
        if not candidates:
            return None
        victim = min(candidates, key=lambda e: e.last_used)
        self._idle[victim.key].remove(victim)
        self._drop_empty()
        return victim

    def _over_memory(self) -> list[_Entry]:
        budget = self.limits.memory_mb * 1024 * 1024
        out = []
        used = self.resident()  # the lock is re-entrant
        while used > budget:
            victim = self._least_recent_idle()
            if victim is None:
                break
            used -= victim.rss
            out.append(victim)
        return out

    def _drop_empty(self) -> None:
        for key in [k for k, entries in self._idle.items() if not entries]:
            del self._idle[key]

    def _end_later(self, entry: _Entry, reason: str | None) -> None:
        """Under the lock: free the slot now and stop the worker on a thread of its own (a stop
        can wait up to two seconds for the worker to exit)."""
        self._release_slot(entry.key)
        if reason is not None:
            self._count(POOL_EVICTIONS_TOTAL, reason=reason)
        threading.Thread(target=self._stop_and_clean, args=(entry.worker,), daemon=True).start()

    def _end(self, worker: Worker, key: str | None) -> None:
        if key is not None:
            with self._cond:
                self._release_slot(key)
        self._stop_and_clean(worker)

    def _release_slot(self, key: str) -> None:
        at_cap = self._total >= self.limits.max_workers
        self._per_key[key] -= 1
        if self._per_key[key] <= 0:
            del self._per_key[key]
        self._total -= 1
        self._wake(key)
        if at_cap:  # room under the total cap: any key may start a worker
            for other in list(self._waiting):
                self._wake(other)

    def _wait_for(self, key: str, seconds: float) -> None:
        """Under the lock: sleep until this key is woken (or the time is up)."""
        condition, waiters = self._waiting.get(key, (threading.Condition(self._lock), 0))
        self._waiting[key] = (condition, waiters + 1)
        try:
            condition.wait(seconds)
        finally:
            condition, waiters = self._waiting[key]
            if waiters <= 1:
                del self._waiting[key]
            else:
                self._waiting[key] = (condition, waiters - 1)

    def _wake(self, key: str) -> None:
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting[0].notify()

    @staticmethod
    def _stop_and_clean(worker: Worker) -> None:
        worker.stop()
        shutil.rmtree(worker.spec.run_dir, ignore_errors=True)

    def _start(self, spec: WorkerSpec, key: str, serial: int, demanded: bool = True) -> Worker:
        started = time.perf_counter()
        folder = worker_folder(Path(spec.run_dir), serial)
        try:
            worker = Worker(replace(spec, run_dir=folder), self.containment)
        except BaseException:
            with self._cond:
                self._release_slot(key)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if self._metrics is not None:
            self._metrics.histogram(WORKER_START_DURATION).observe(
                time.perf_counter() - started)
        if demanded:  # a pre-warmed worker is no execution's miss
            self._count(POOL_ACQUISITIONS, result="miss")
        rss = resident_bytes(worker.process.pid)
        with self._cond:
            self._busy[id(worker)] = _Entry(worker, key, rss, self._now())
            closed = self._closed
        if closed:  # the pool closed while it started
            self._end(worker, key)
            raise Unavailable(Code.WORKERS_BUSY, "the runtime is stopping", 5,
                              where=spec.plugin)
        return worker


def _reap_now_and_then(pool: weakref.ref[WorkerPool], stopping: threading.Event,
                       idle_s: float) -> None:
    """The reaper pass, as long as the pool is open and referenced (it holds no reference)."""
    while not stopping.wait(max(1.0, min(30.0, idle_s / 4))):
        alive = pool()
        if alive is None:
            return
        alive.reap()
        del alive


def _end_all(lock: threading.Condition, idle: dict[str, list[_Entry]], busy: dict[int, _Entry],
             cells: list[Containment], stopping: threading.Event) -> None:
    """Stop every worker, idle or busy, delete their run folders, release the containment."""
    stopping.set()
    with lock:
        entries = [e for es in idle.values() for e in es] + list(busy.values())
        idle.clear()
        busy.clear()
    for entry in entries:
        entry.worker.stop()
        shutil.rmtree(entry.worker.spec.run_dir, ignore_errors=True)
    for containment in cells:
        containment.close()


def _gauge(pool: weakref.ref[WorkerPool], what: str) -> float:
    alive = pool()
    if alive is None:
        return 0.0
    return float(alive.resident() if what == "memory" else alive.count(what))
