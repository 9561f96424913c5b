"""What the health-check phase costs now that it runs in the sandbox: `Executor.health` (a fresh
worker: interpreter start, cgroup, rlimits, Landlock, seccomp, audit hooks, the plugin's import,
its `health(ctx)`, then the worker and its cgroup ended) against, in the same run, the cost of
what it replaced: a bare `python -I -S` process importing the module and calling the hook.

    python bench/health_bench.py [--n 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.files import workers_may_enter
from contracts.layout import Layout
from runtime.host import this_host
from runtime.install.context import Env
from runtime.install.journal import Journal
from runtime.install.service import Installer
from runtime.manifest.model import Manifest
from runtime.registry.index import load_registry
from runtime.registry.publish import publish
from runtime.registry.signing import key_id
from runtime.sandbox.home import executor_for
from runtime.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
BARE = ("import logging, sys, types; sys.path.insert(0, sys.argv[1]); import transform; "
        "ctx = types.SimpleNamespace(log=logging.getLogger('h'), scratch='.'); "
        "assert transform.health(ctx)")


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        root = workers_may_enter(Path(tmp))
        publish(ROOT / "examples" / "plugins" / "json-transform-v2", root / "registry",
                this_host(), key)
        home = root / "home"
        metrics, tracer = Metrics(CollectorRegistry()), NoOpTracerProvider().get_tracer("b")
        journal = Journal(home / "journal.db")
        executor = executor_for(home, metrics, tracer, journal)
        env = Env(Layout(home), journal, this_host(), metrics, tracer,
                  registry=load_registry(root / "registry"),
                  trusted_keys={key_id(key.public_key()): key.public_key()},
                  health=executor.health)
        assert Installer(env).install("json-transform").state == "committed"
        package = env.layout.version_dir("json-transform", "2.0.0")
        manifest = Manifest.model_validate_json((package / "plugin.json").read_text())
        bare, sandboxed = [], []
        for _ in range(args.n):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-S", "-c", BARE, str(package)], check=True,
                           capture_output=True, env={"PATH": "/usr/bin:/bin"})
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            verdict = executor.health(manifest, 10.0)
            sandboxed.append(time.perf_counter() - started)
            assert verdict.healthy, verdict.detail
        executor.deps.pool.close()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, n={args.n}, "
          "json-transform 2.0.0 (its health hook runs one transformation)")
    print(f"baseline: bare `python -I -S` import + health()   {median_ms(bare)}")
    print(f"sandboxed Executor.health (worker start to end)    {median_ms(sandboxed)}  "
          f"{statistics.median(sandboxed) / statistics.median(bare):.2f}x the baseline")


if __name__ == "__main__":
    main()
