"""Install, update and rollback of a 100 KB and a 50 MB plugin, next to the floor measured in the
same run: `sha256sum` plus `tar -xzf` of the same artifact plus `sync` of what was unpacked (what
any installer that survives a power cut must at least do).

Goal: install and update at most 1.5x the floor for 50 MB; rollback under 50 ms at p50, its
time split by phase (from the journal). The health check runs in the executor's pool, as in
`pluginops serve`: a rollback's check finds the previous version's worker still warm.

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


def measure(installer: Installer, name: str) -> tuple[float, float, float, dict[str, float]]:
    """Seconds for install 1.0.0, update to 2.0.0 and rollback (each must commit), and the
    rollback's phases as the journal timed them."""
    took, last = [], ""
    for work in (lambda: installer.install(f"{name}@1.0.0"), lambda: installer.update(name),
                 lambda: installer.rollback(name)):
        start = time.perf_counter()
        outcome = work()
        took.append(time.perf_counter() - start)
        assert outcome.state == "committed", outcome.message
        last = outcome.tx_id
    assert installer.status(name)[0].version == "1.0.0"
    phases = {e.phase or "": float(e.detail["duration_s"])
              for e in installer.env.journal.events(last) if e.kind == "phase_completed"}
    return took[0], took[1], took[2], phases


def floor(artifact: Path, scratch: Path) -> float:
    out = scratch / "floor"

    def work() -> None:
        out.mkdir()
        subprocess.run(["sha256sum", str(artifact)], check=True, capture_output=True)
        subprocess.run(["tar", "-xzf", str(artifact), "-C", str(out)], check=True)
        files = [str(p) for p in out.rglob("*")]
        subprocess.run(["sync", str(out), *files], check=True)

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
            phases: dict[str, list[float]] = {}
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
                for phase, seconds in took[3].items():
                    phases.setdefault(phase, []).append(seconds)
                env.journal.close()
            f, ins, upd, rb = (statistics.median(x) for x in (floors, installs, updates,
                                                               rollbacks))
            print(f"{label:>8} {f * 1000:>7.1f}ms {ins * 1000:>7.1f}ms {ins / f:>7.2f}x "
                  f"{upd * 1000:>7.1f}ms {upd / f:>7.2f}x {rb * 1000:>7.1f}ms")
            split = ", ".join(f"{phase} {statistics.median(s) * 1000:.1f}"
                              for phase, s in phases.items())
            print(f"{'':>8} rollback phases (ms): {split}")
    print(f"(medians of {args.repeat}; install and update start the health check's worker, "
          "the rollback's finds it warm)")


if __name__ == "__main__":
    main()
