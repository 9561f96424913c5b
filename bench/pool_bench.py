"""A thousand plugins executed round robin through one `pluginops serve` with the default pool
(256 workers, 4 GB), under `ulimit -n 1024`: every request must be answered, the pool must stay
within its worker cap and memory budget, the open files within the limit. Prints the workers'
resident and proportional memory (PSS, what they really cost together), the server's open files,
the pool's hits, misses and evictions and the latency, beside a baseline in the same run: the
same rounds over only as many plugins as the pool holds (every execution after the first round
warm). The unbounded pool of before cannot run under this limit at all: it failed with "Too many
open files" from the 250th plugin.

    .venv/bin/python bench/pool_bench.py [--plugins 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from opentelemetry.trace import NoOpTracerProvider  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from bench.serving import PLUGINOPS, pluginops, stop, wait_ready, workspace  # noqa: E402
from contracts.catalogue import (  # noqa: E402
    POOL_ACQUISITIONS,
    POOL_EVICTIONS_TOTAL,
    POOL_STATES,
    POOL_WORKERS,
)
from contracts.layout import Layout  # noqa: E402
from runtime.host import this_host  # noqa: E402
from runtime.install.context import Env  # noqa: E402
from runtime.install.journal import Journal  # noqa: E402
from runtime.install.service import Installer  # noqa: E402
from runtime.registry.index import load_registry  # noqa: E402
from runtime.registry.publish import publish  # noqa: E402
from runtime.registry.signing import key_id  # noqa: E402
from runtime.sandbox.home import executor_for  # noqa: E402
from runtime.sandbox.pool import PoolLimits, WorkerPool  # noqa: E402
from runtime.telemetry.metrics import Metrics  # noqa: E402
from stack.processes import free_port  # noqa: E402

OPEN_FILES = 1024


def limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


def sample(text: str, name: str, labels: str = "") -> float:
    wanted = f"{name}{{{labels}}}" if labels else name
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.rsplit(" ", 1)[0] == wanted)


def memory_of_children(pid: int) -> tuple[int, float, float]:
    """Workers of the server (its child processes): count, RSS and PSS in MB."""
    count, rss, pss = 0, 0.0, 0.0
    children = [c for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]  # any thread's children
    for child in children:
        try:
            rollup = Path(f"/proc/{child}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        fields = {line.split(":")[0]: float(line.split()[1]) for line in rollup[1:]}
        count, rss, pss = count + 1, rss + fields["Rss"] / 1024, pss + fields["Pss"] / 1024
    return count, rss, pss


def run(home: Path, names: list[str], rounds: int) -> dict[str, float]:
    token = pluginops(home, "token", "create", "--user", "bench", "--role", "operator").strip()
    port = free_port()
    log = (home.parent / f"serve-{len(names)}.log").open("wb")
    server = subprocess.Popen([PLUGINOPS, "serve", "--port", str(port), "--home", str(home)],
                              stdout=log, stderr=log, preexec_fn=limit_open_files)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", server)

        def execute(name: str) -> tuple[int, float]:
            request = urllib.request.Request(
                f"{base}/v1/plugins/{name}/execute", method="POST",
                data=json.dumps({"inputs": {}}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    return response.status, time.perf_counter() - started
            except urllib.error.HTTPError as err:
                return err.code, time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as clients:
            answers = list(clients.map(execute, names * rounds))
        took = time.perf_counter() - started
        workers, rss, pss = memory_of_children(server.pid)
        with urllib.request.urlopen(f"{base}/metrics", timeout=60) as response:
            text = response.read().decode()
        return {
            "answered_200": sum(1 for status, _ in answers if status == 200),
            "requests": len(answers), "seconds": took,
            "p50_ms": statistics.median(t for _, t in answers) * 1000,
            "workers": workers, "rss_mb": rss, "pss_mb": pss,
            "pool_workers": sum(sample(text, POOL_WORKERS.name, f'state="{s}"')
                                for s in POOL_STATES),
            "hits": sample(text, POOL_ACQUISITIONS.name, 'result="hit"'),
            "misses": sample(text, POOL_ACQUISITIONS.name, 'result="miss"'),
            "evictions": sample(text, POOL_EVICTIONS_TOTAL.name, 'reason="lru"'),
            "open_fds": sample(text, "process_open_fds"),
            "server_rss_mb": sample(text, "process_resident_memory_bytes") / 1048576,
        }
    finally:
        stop(server, grace_s=300)
        log.close()


def install_all(home: Path, work: Path, names: list[str]) -> None:
    """Publish and install in this process (a thousand CLI runs would take minutes), each
    health check in the sandbox as ever, on a small pool of its own."""
    key = Ed25519PrivateKey.generate()
    registry = work / "registry"
    for name in names:
        folder = work / "src" / name
        folder.mkdir(parents=True)
        (folder / "plugin.json").write_text(json.dumps({
            "name": name, "version": "1.0.0", "type": "node", "host": "^2.0.0", "api": "4.0",
            "entrypoint": "main:run"}))
        (folder / "main.py").write_text("def run(inputs, ctx):\n    return {}\n")
        publish(folder, registry, this_host(), key)
    metrics, tracer = Metrics(CollectorRegistry()), NoOpTracerProvider().get_tracer("bench")
    journal = Journal(Layout(home).journal)
    checker = executor_for(home, metrics, tracer, journal)
    checker.deps.pool = WorkerPool(PoolLimits(max_workers=4))
    env = Env(Layout(home), journal, this_host(), metrics, tracer,
              registry=load_registry(registry),
              trusted_keys={key_id(key.public_key()): key.public_key()}, health=checker.health)
    installer = Installer(env)
    for name in names:
        assert installer.install(name).state == "committed", name
    checker.deps.pool.close()
    journal.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    with workspace("pluginops-pool-") as work:
        home = work / "home"
        names = [f"p{n:04d}" for n in range(options.plugins)]
        install_all(home, work, names)
        print(f"{options.plugins} plugins, {options.rounds} rounds round robin, 8 clients, "
              f"ulimit -n {OPEN_FILES}")
        rows = [(f"{len(names)} plugins, default pool", run(home, names, options.rounds)),
                ("baseline: 200 plugins (all fit)", run(home, names[:200], options.rounds))]
        keys = list(rows[0][1])
        for key in keys:
            print(f"{key:<14}" + "".join(f"{row[key]:>16.1f}" for _, row in rows))
        print(f"{'':<14}" + "".join(f"{label[:15]:>16}" for label, _ in rows))
        print(f"p50 latency vs baseline: {rows[0][1]['p50_ms'] / rows[1][1]['p50_ms']:.2f}x")
        bounded = rows[0][1]
        ok = (bounded["answered_200"] == bounded["requests"] and bounded["pool_workers"] <= 256
              and bounded["rss_mb"] <= 4096 and bounded["open_fds"] < OPEN_FILES)
        print(f"every request answered, pool within 256 workers and 4 GB, open files under "
              f"{OPEN_FILES}: {'yes' if ok else 'NO'}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
