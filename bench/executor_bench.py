"""Warm-worker execution against calling the same plugin function in-process, in the same run.

Four rows: the function called in-process (the baseline), a JSON line echoed by a plain child
Python over a pipe (the floor any process boundary costs on this machine, measured in the same
run), one round trip to a warm sandboxed worker (identity, rlimits, Landlock, seccomp, audit hooks
all on), and the whole `Executor.execute` (plan, worker, metering, metrics, audit): what a caller
pays. Goal: the whole execution adds at most 300 us at p50 and 1 ms at p99 over the in-process
call (moonshot: at most 2x the bare pipe); the worker's ratio to the bare pipe says how much of
the round trip is ours rather than the machine's.

    .venv/bin/python bench/executor_bench.py [--n 2000]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts.files import workers_may_enter  # noqa: E402
from contracts.layout import Layout  # noqa: E402
from runtime.host import this_host  # noqa: E402
from runtime.install.context import Env  # noqa: E402
from runtime.install.journal import Journal  # noqa: E402
from runtime.install.service import Installer  # noqa: E402
from runtime.registry.index import load_registry  # noqa: E402
from runtime.registry.publish import publish  # noqa: E402
from runtime.registry.signing import key_id  # noqa: E402
from runtime.sandbox.approvals import Approvals  # noqa: E402
from runtime.sandbox.audit import AuditLog  # noqa: E402
from runtime.sandbox.executor import Executor, ExecutorDeps  # noqa: E402
from runtime.sandbox.home import executor_for, identity_book  # noqa: E402
from runtime.sandbox.metering import DailyMeter  # noqa: E402
from runtime.sandbox.plugin_api import Context  # noqa: E402
from runtime.sandbox.policy import OrgPolicy  # noqa: E402
from runtime.sandbox.pool import WorkerPool  # noqa: E402
from runtime.sandbox.settings import RuntimeSettings  # noqa: E402
from runtime.telemetry.metrics import Metrics  # noqa: E402

INPUTS = {"record": {"a": {"b": 1}, "c": 2}, "fields": {"x": "a.b", "y": "c"}}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99)]


def timed(n: int, work: Any) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        work()
        out.append(time.perf_counter() - start)
    return out


ECHO = ("import sys, json\n"
        "for line in sys.stdin:\n"
        "    sys.stdout.write(json.dumps({'ok': json.loads(line)}) + '\\n')\n"
        "    sys.stdout.flush()\n")


def bare_pipe(n: int) -> list[float]:
    child = subprocess.Popen([sys.executable, "-I", "-c", ECHO], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, bufsize=0)
    assert child.stdin is not None and child.stdout is not None
    line = (json.dumps(INPUTS) + "\n").encode()

    def echo() -> None:
        child.stdin.write(line)  # type: ignore[union-attr]
        child.stdout.readline()  # type: ignore[union-attr]

    echo()
    try:
        return timed(n, echo)
    finally:
        child.stdin.close()
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        root = workers_may_enter(Path(tmp))
        publish(ROOT / "examples" / "plugins" / "json-transform", root / "registry", this_host(),
                key)
        home = root / "home"
        metrics = Metrics(CollectorRegistry())
        tracer = NoOpTracerProvider().get_tracer("bench")
        journal = Journal(home / "journal.db")
        env = Env(Layout(home), journal, this_host(), metrics, tracer,
                  registry=load_registry(root / "registry"),
                  trusted_keys={key_id(key.public_key()): key.public_key()},
                  health=executor_for(home, metrics, tracer, journal).health)
        assert Installer(env).install("json-transform").state == "committed"
        package = env.layout.version_dir("json-transform", "1.2.0")

        sys.path.insert(0, str(package))
        module = importlib.import_module("transform")
        scratch = root / "scratch"
        scratch.mkdir()
        ctx = Context("json-transform", scratch, None, None, lambda api, a: None)
        ctx.log.info = lambda *a: None  # type: ignore[method-assign]
        baseline = timed(args.n * 5, lambda: module.run(INPUTS, ctx))

        deps = ExecutorDeps(env.layout, env.journal, Approvals(home / "approvals.db"),
                            OrgPolicy(), RuntimeSettings(), metrics, tracer,
                            AuditLog(home / "audit.log"), DailyMeter(home / "metering.db"),
                            identity_book(home))
        executor = Executor(deps)
        spec = executor.plan("json-transform", time.time()).spec
        worker = deps.pool.acquire(spec)

        def round_trip() -> None:
            reply = worker.execute(INPUTS, "bench", lambda api, a: {"result": None}, 10.0)
            assert reply.outcome == "success", reply.error

        round_trip()
        warm = timed(args.n, round_trip)
        deps.pool.release(spec, worker)

        def cold() -> None:  # a worker started for an execution that found none idle
            pool = WorkerPool()
            try:
                pool.acquire(spec)
            finally:
                pool.close()

        cold_starts = timed(max(10, args.n // 100), cold)

        def full() -> None:
            assert executor.execute("json-transform", INPUTS).outcome == "success"

        full()
        whole = timed(args.n // 2, full)
        deps.pool.close()
        shutil.rmtree(home / "run", ignore_errors=True)

    pipe = bare_pipe(args.n)
    b50, b99 = percentiles(baseline)
    p50, p99 = percentiles(pipe)
    w50, w99 = percentiles(warm)
    e50, e99 = percentiles(whole)
    c50, c99 = percentiles(cold_starts)
    us = 1e6
    print(f"{'':<34}{'p50':>10}{'p99':>10}")
    print(f"{'in-process call (baseline)':<34}{b50 * us:>8.1f}us{b99 * us:>8.1f}us")
    print(f"{'bare pipe round trip (baseline)':<34}{p50 * us:>8.1f}us{p99 * us:>8.1f}us")
    print(f"{'warm sandboxed worker':<34}{w50 * us:>8.1f}us{w99 * us:>8.1f}us")
    print(f"{'Executor.execute (all of it)':<34}{e50 * us:>8.1f}us{e99 * us:>8.1f}us")
    print(f"{'cold start of a worker':<34}{c50 * 1000:>8.1f}ms{c99 * 1000:>8.1f}ms")
    added50, added99 = (e50 - b50) * us, (e99 - b99) * us
    met = added50 <= 300 and added99 <= 1000
    print(f"added by Executor.execute (what a caller pays): {added50:.0f} us at p50, "
          f"{added99:.0f} us at p99 (goal <= 300 us and <= 1,000 us: "
          f"{'met' if met else 'NOT met'}); by the worker round trip alone: "
          f"{(w50 - b50) * us:.0f} us at p50")
    print(f"warm worker / bare pipe at p50: {w50 / p50:.2f}x; "
          f"Executor.execute / bare pipe: {e50 / p50:.2f}x (moonshot <= 2x)")
    print("load average while it ran: " + " / ".join(f"{x:.2f}" for x in os.getloadavg()))

if __name__ == "__main__":
    main()
