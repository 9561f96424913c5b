"""Preflight throughput: 1,000 manifests against a registry of 5,000 versions, in one process.

Prints manifests per second for the full preflight (schema, host, API, capabilities, permissions,
entrypoint on disk, transitive resolution) next to a baseline measured in the same run: reading
and validating the same files against the model alone. Goal: at least 500 manifests/s.

    .venv/bin/python bench/preflight_bench.py [--plugins 500] [--versions 10] [--manifests 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.host import this_host
from runtime.manifest.model import Manifest
from runtime.manifest.read import parse_json, read_manifest_bytes
from runtime.preflight import PreflightContext, preflight_paths
from runtime.registry.index import INDEX_FILE, IndexEntry, IndexFile, load_registry
from runtime.telemetry.metrics import Metrics

# Dependents mostly track the newest major line, as in real ecosystems; a random major per range
# makes most graphs unsatisfiable and measures the resolver's give-up time instead.
RANGES = (("^{major}.0.0", 0.6), ("{major}.x", 0.15), (">=1.0.0 <{next}.0.0", 0.15),
          ("~{major}.{minor}", 0.1))


def manifest(name: str, version: str, deps: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "version": version, "type": "node", "host": "^2.0.0", "api": "4.0",
            "entrypoint": "main:run", "dependencies": deps}


RANDOM_MAJORS = False


def a_range(rng: random.Random, versions: int) -> str:
    newest = max(1, (versions - 1) // 5 + 1)
    major = rng.randrange(1, newest + 1) if RANDOM_MAJORS else newest
    template = rng.choices([r for r, _ in RANGES], weights=[w for _, w in RANGES])[0]
    return template.format(major=major, minor=rng.randrange(0, 5), next=major + 1)


def build_registry(root: Path, plugins: int, versions: int, rng: random.Random) -> None:
    """Plugins with 0-2 dependencies each (on earlier plugins, so no cycles), kept across their
    versions as real libraries do; each major line picks its own ranges."""
    index: dict[str, dict[str, IndexEntry]] = {}
    for i in range(plugins):
        name = f"lib-{i:04d}"
        dep_names = [f"lib-{j:04d}" for j in rng.sample(range(i), min(i, rng.randrange(0, 3)))]
        ranges_by_major: dict[int, dict[str, str]] = {}
        for v in range(versions):
            major = 1 + v // 5
            version = f"{major}.{v % 5}.0"
            deps = ranges_by_major.setdefault(
                major, {dep: a_range(rng, versions) for dep in dep_names})
            index.setdefault(name, {})[version] = IndexEntry(
                artifact=f"artifacts/{name}/{name}-{version}.tar.gz", size=0, sha256="0" * 64,
                published_at="2026-11-25T00:00:00Z", manifest=manifest(name, version, deps))
    (root / INDEX_FILE).write_text(json.dumps(IndexFile(plugins=index).model_dump()))


def write_manifests(root: Path, count: int, plugins: int, versions: int,
                    rng: random.Random) -> list[Path]:
    paths = []
    for i in range(count):
        folder = root / f"app-{i:04d}"
        folder.mkdir()
        deps = {f"lib-{j:04d}": a_range(rng, versions)
                for j in rng.sample(range(plugins), rng.randrange(1, 4))}
        (folder / "plugin.json").write_text(json.dumps(manifest(f"app-{i:04d}", "1.0.0", deps)))
        (folder / "main.py").write_text("def run(inputs, ctx):\n    return inputs\n")
        paths.append(folder)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=500)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--random-majors", action="store_true",
                        help="adversarial: ranges pick any major, so most graphs conflict")
    args = parser.parse_args()
    global RANDOM_MAJORS
    RANDOM_MAJORS = args.random_majors
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "registry").mkdir()
        build_registry(root / "registry", args.plugins, args.versions, rng)
        (root / "apps").mkdir()
        paths = write_manifests(root / "apps", args.manifests, args.plugins, args.versions, rng)

        start = time.perf_counter()
        registry = load_registry(root / "registry")
        load_s = time.perf_counter() - start

        start = time.perf_counter()
        for path in paths:
            raw = read_manifest_bytes(path)
            assert isinstance(raw, bytes)
            Manifest.model_validate(parse_json(raw))
        baseline_s = time.perf_counter() - start

        ctx = PreflightContext(this_host(), registry)
        metrics = Metrics(CollectorRegistry())
        tracer = NoOpTracerProvider().get_tracer("bench")
        start = time.perf_counter()
        report = preflight_paths(paths, ctx, metrics, tracer)
        full_s = time.perf_counter() - start

        each = []
        for path in paths:
            t0 = time.perf_counter()
            one = preflight_paths([path], ctx, metrics, tracer).results[0]
            each.append((time.perf_counter() - t0, [f.code for f in one.findings]))
        each.sort(key=lambda item: item[0])

    versions = args.plugins * args.versions
    failed = sum(1 for r in report.results if not r.ok)
    rate = args.manifests / full_s
    print(f"registry: {versions} versions of {args.plugins} plugins, loaded in {load_s:.2f} s")
    print(f"baseline (read + model validation): {args.manifests / baseline_s:,.0f} manifests/s")
    print(f"full preflight with resolution:     {rate:,.0f} manifests/s "
          f"({full_s * 1000 / args.manifests:.2f} ms each; {failed} failed resolution)")
    print(f"ratio full/baseline time: {full_s / baseline_s:.1f}x")
    p50, p99, worst = each[len(each) // 2][0], each[int(len(each) * 0.99)][0], each[-1]
    print(f"per manifest, timed one by one: p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
          f"max {worst[0] * 1000:.1f} ms ({', '.join(worst[1]) or 'clean'})")
    print(f"goal >= 500 manifests/s: {'met' if rate >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
