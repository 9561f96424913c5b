"""Install, update and rollback of a 100 KB and a 50 MB plugin, next to the floor measured in the
same run: `sha256sum` plus `tar -xzf` of the same artifact (what any installer must at least do).

Goal: install and update at most 1.5x the floor for 50 MB; rollback under 50 ms.

    .venv/bin/python bench/install_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import random
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
from runtime.registry.index import load_registry
from runtime.registry.publish import publish
from runtime.registry.signing import key_id
from runtime.sandbox.home import executor_for
from runtime.telemetry.metrics import Metrics


def make_plugin(root: Path, name: str, version: str, size: int) -> Path:
    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True)
    (folder / "plugin.json").write_text(json.dumps({
        "name": name, "version": version, "type": "node", "host": "^2.0.0", "api": "4.0",
        "entrypoint": "main:run"}))
    (folder / "main.py").write_text("def run(inputs, ctx):\n    return inputs\n")
    (folder / "data.bin").write_bytes(random.Random(f"{name}{version}").randbytes(size))
    return folder


def measure(installer: Installer, name: str) -> tuple[float, float, float]:
    """Seconds for install 1.0.0, update to 2.0.0 and rollback; each must commit."""
    took = []
    for work in (lambda: installer.install(f"{name}@1.0.0"), lambda: installer.update(name),
                 lambda: installer.rollback(name)):
        start = time.perf_counter()
        outcome = work()
        took.append(time.perf_counter() - start)
        assert outcome.state == "committed", outcome.message
    assert installer.status(name)[0].version == "1.0.0"
    return took[0], took[1], took[2]


def floor(artifact: Path, scratch: Path) -> float:
    out = scratch / "floor"

    def work() -> None:
        out.mkdir()
        subprocess.run(["sha256sum", str(artifact)], check=True, capture_output=True)
        subprocess.run(["tar", "-xzf", str(artifact), "-C", str(out)], check=True)

    start = time.perf_counter()
    work()
    took = time.perf_counter() - start
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    print(f"{'size':>8} {'floor':>9} {'install':>9} {'x floor':>8} {'update':>9} {'x floor':>8} "
          f"{'rollback':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        root = workers_may_enter(Path(tmp))
        registry = root / "registry"
        for label, size in (("100 KB", 100 * 1024), ("50 MB", 50 * 1024 * 1024)):
            name = f"bench-{size}"
            for version in ("1.0.0", "2.0.0"):
                publish(make_plugin(root / "src", name, version, size), registry, this_host(),
                        key)
            reg = load_registry(registry)
            artifact = registry / reg.versions(name)[0].entry.artifact
            floors, installs, updates, rollbacks = [], [], [], []
            for i in range(args.repeat):
                home = root / f"home-{size}-{i}"
                metrics, tracer = Metrics(CollectorRegistry()), NoOpTracerProvider().get_tracer("b")
                journal = Journal(home / "journal.db")
                env = Env(Layout(home), journal, this_host(), metrics, tracer,
                          registry=reg, trusted_keys={key_id(key.public_key()):
                                                      key.public_key()},
                          health=executor_for(home, metrics, tracer, journal).health)
                floors.append(floor(artifact, root))
                took = measure(Installer(env), name)
                installs.append(took[0])
                updates.append(took[1])
                rollbacks.append(took[2])
                env.journal.close()
            f, ins, upd, rb = (statistics.median(x) for x in (floors, installs, updates,
                                                               rollbacks))
            print(f"{label:>8} {f * 1000:>7.1f}ms {ins * 1000:>7.1f}ms {ins / f:>7.2f}x "
                  f"{upd * 1000:>7.1f}ms {upd / f:>7.2f}x {rb * 1000:>7.1f}ms")
    print(f"(medians of {args.repeat}; install and update include the health-check process)")


if __name__ == "__main__":
    main()
