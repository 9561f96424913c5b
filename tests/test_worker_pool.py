"""The warm pool within its bounds, with real sandboxed workers: warm hits, a per-plugin maximum
with a bounded wait then WORKERS_BUSY, least-recently-used eviction under the worker cap and the
memory budget, idle workers reaped (the busiest kept warm), run folders deleted, and the counts
on /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from contracts.catalogue import (
    POOL_ACQUISITIONS,
    POOL_EVICTIONS_TOTAL,
    POOL_WORKERS,
    WORKER_START_DURATION,
)
from contracts.codes import Code
from contracts.errors import Unavailable
from runtime.sandbox.executor import Executor
from runtime.sandbox.pool import PoolLimits, WorkerPool
from runtime.sandbox.worker import WorkerSpec
from runtime.telemetry.metrics import Metrics
from tests.install_support import a_sandbox_executor, an_installer, publish_plugin

pytestmark = pytest.mark.slow
PLUGINS = ("alpha", "beta", "gamma")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def executor(tmp_path: Path, writable_registry: Path,
             signing_key: Ed25519PrivateKey) -> Iterator[Executor]:
    home = tmp_path / "home"
    for name in PLUGINS:
        publish_plugin(writable_registry, tmp_path / "src", signing_key, name, "1.0.0",
                       "def run(inputs, ctx):\n    return inputs\n")
    installer = an_installer(home, writable_registry, signing_key)
    for name in PLUGINS:
        assert installer.install(name).state == "committed"
    executor = a_sandbox_executor(home)
    yield executor
    executor.deps.pool.close()


def spec_of(executor: Executor, name: str) -> WorkerSpec:
    return executor.plan(name, time.time()).spec


def with_pool(executor: Executor, clock: Clock | None = None, **limits: float) -> WorkerPool:
    executor.deps.pool.close()
    metrics = Metrics(CollectorRegistry())
    pool = WorkerPool(PoolLimits(**limits), metrics=metrics,  # type: ignore[arg-type]
                      clock=clock or time.monotonic)
    executor.deps.pool = pool
    executor.deps.metrics = metrics
    return pool


def sample(executor: Executor, name: str, **labels: str) -> float:
    value = executor.deps.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_a_released_worker_is_taken_warm_the_next_time(executor: Executor) -> None:
    pool = with_pool(executor)
    spec = spec_of(executor, "alpha")
    first = pool.acquire(spec)
    pool.release(spec, first)
    again = pool.acquire(spec)
    assert again is first and again.alive
    pool.release(spec, again)
    assert sample(executor, POOL_ACQUISITIONS.name, result="hit") == 1
    assert sample(executor, POOL_ACQUISITIONS.name, result="miss") == 1
    assert sample(executor, f"{WORKER_START_DURATION.name}_count") == 1
    assert sample(executor, POOL_WORKERS.name, state="idle") == 1


def test_past_the_per_plugin_maximum_an_execution_waits_then_is_refused(
        executor: Executor) -> None:
    pool = with_pool(executor, per_plugin=2, wait_s=0.2)
    spec = spec_of(executor, "alpha")
    held = [pool.acquire(spec), pool.acquire(spec)]
    with pytest.raises(Unavailable) as busy:
        pool.acquire(spec)
    assert busy.value.code == Code.WORKERS_BUSY and busy.value.http_status == 503
    assert busy.value.retry_after_s >= 1
    other = pool.acquire(spec_of(executor, "beta"))  # another plugin is not held up
    assert sample(executor, POOL_ACQUISITIONS.name, result="busy") == 1
    assert sample(executor, POOL_WORKERS.name, state="busy") == 3
    for worker in held:
        pool.release(spec, worker)
    pool.release(spec_of(executor, "beta"), other)


def test_at_the_worker_cap_the_least_recently_used_idle_worker_makes_room(
        executor: Executor) -> None:
    clock = Clock()
    pool = with_pool(executor, clock, max_workers=2)
    workers = {}
    for name in ("alpha", "beta"):
        workers[name] = pool.acquire(spec_of(executor, name))
        pool.release(spec_of(executor, name), workers[name])
        clock.now += 1
    gamma = pool.acquire(spec_of(executor, "gamma"))
    assert sample(executor, POOL_EVICTIONS_TOTAL.name, reason="lru") == 1
    deadline = time.monotonic() + 30
    while workers["alpha"].alive or workers["alpha"].spec.run_dir.exists():
        assert time.monotonic() < deadline, "the evicted worker was not ended"
        time.sleep(0.05)
    assert workers["beta"].alive and pool.count("idle") == 1 and pool.count("busy") == 1
    pool.release(spec_of(executor, "gamma"), gamma)


def test_over_the_memory_budget_idle_workers_are_ended(executor: Executor) -> None:
    pool = with_pool(executor, memory_mb=1)  # less than any worker holds
    spec = spec_of(executor, "alpha")
    worker = pool.acquire(spec)
    assert pool.resident() > 1024 * 1024
    pool.release(spec, worker)
    assert pool.count("idle") == 0
    assert sample(executor, POOL_EVICTIONS_TOTAL.name, reason="memory") == 1


def test_idle_workers_are_reaped_and_the_busiest_keeps_one_warm(executor: Executor) -> None:
    clock = Clock()
    pool = with_pool(executor, clock, idle_s=60, keep_warm=1)
    for name, uses in (("alpha", 3), ("beta", 1)):
        spec = spec_of(executor, name)
        for _ in range(uses):
            pool.release(spec, pool.acquire(spec))
    clock.now += 30
    assert pool.reap() == 0  # not idle long enough
    clock.now += 31
    assert pool.reap() == 1  # beta's; alpha is the busiest and keeps its one worker
    assert pool.count("idle") == 1
    assert sample(executor, POOL_EVICTIONS_TOTAL.name, reason="idle") == 1


def test_a_pool_dropped_without_closing_ends_its_workers(executor: Executor) -> None:
    pool = with_pool(executor)
    spec = spec_of(executor, "alpha")
    worker = pool.acquire(spec)
    pool.release(spec, worker)
    executor.deps.pool = WorkerPool()
    del pool
    assert not worker.alive and not worker.spec.run_dir.exists()


def test_the_busiest_plugins_are_pre_warmed_from_the_meters_counts(executor: Executor) -> None:
    """After a restart the plugins executed most this week start warm: their first execution is
    a hit; a pre-warm is no execution's miss, and the others wait for demand."""
    with_pool(executor, keep_warm=2)
    meter = executor.deps.meter
    now = executor.deps.clock()
    for plugin, runs in (("alpha", 3), ("beta", 1), ("gamma", 7)):
        for _ in range(runs):
            meter.add(plugin, now, 0, 0.0)
    meter.flush()
    assert meter.busiest(now, 7, 2) == ["gamma", "alpha"]
    assert executor.prewarm() == ["gamma", "alpha"]
    assert sample(executor, POOL_WORKERS.name, state="idle") == 2
    assert sample(executor, POOL_ACQUISITIONS.name, result="miss") == 0
    assert executor.execute("gamma", {"x": 1}).outcome == "success"
    assert sample(executor, POOL_ACQUISITIONS.name, result="hit") == 1
    assert executor.prewarm() == []  # each already has its worker


def test_pre_warming_never_evicts_a_worker(executor: Executor) -> None:
    pool = with_pool(executor, max_workers=1)
    alpha = spec_of(executor, "alpha")
    pool.release(alpha, pool.acquire(alpha))
    assert not pool.prewarm(spec_of(executor, "beta"))
    assert sample(executor, POOL_EVICTIONS_TOTAL.name, reason="lru") == 0
    assert pool.count("idle") == 1
