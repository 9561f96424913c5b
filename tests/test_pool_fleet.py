"""Many plugins, few workers, a tight open-file limit: a real `pluginops serve` under
`RLIMIT_NOFILE` 512 executes 80 plugins round robin through a pool capped at 40 workers.
Every request is answered, the pool stays within its cap (least recently used workers make
room), the open files within the limit, and evicted workers' run folders are reclaimed."""

from __future__ import annotations

import json
import resource
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.catalogue import POOL_EVICTIONS_TOTAL, POOL_STATES, POOL_WORKERS
from contracts.layout import Layout
from runtime.auth.tokens import TokenStore
from runtime.sandbox.pool import PoolLimits, WorkerPool
from tests.install_support import a_sandbox_executor, an_installer, publish_plugin
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow
PLUGINS = [f"fleet-{n:03d}" for n in range(80)]
MAX_WORKERS = 40
OPEN_FILES = 512


def tight_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    raise AssertionError(f"{name} {labels} not exported")


def test_a_fleet_of_plugins_runs_round_robin_within_the_pool_and_the_open_file_limit(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    for name in PLUGINS:
        publish_plugin(writable_registry, tmp_path / "src", signing_key, name, "1.0.0",
                       f"def run(inputs, ctx):\n    return {{'plugin': {name!r}}}\n")
    checker = a_sandbox_executor(home)
    checker.deps.pool = WorkerPool(PoolLimits(max_workers=2))  # the installs' health checks
    installer = an_installer(home, writable_registry, signing_key, health=checker.health)
    for name in PLUGINS:
        assert installer.install(name).state == "committed", name
    checker.deps.pool.close()
    Layout(home).settings_file.write_text(yaml.safe_dump(
        {"version": 1, "sandbox": {"pool": {"max_workers": MAX_WORKERS}}}))
    token, _ = TokenStore(home).create("fleet", "operator", "tests")
    with running_serve(home, "--threads", "4", "--connection-limit", "32",
                       before_exec=tight_limit) as base:

        def execute(name: str) -> tuple[int, str]:
            request = urllib.request.Request(
                f"{base}/v1/plugins/{name}/execute", method="POST",
                data=json.dumps({"inputs": {}}).encode(),
                headers={"Content-Type": "application/json",
                         "Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())["output"]["plugin"]

        with ThreadPoolExecutor(max_workers=4) as clients:
            answers = list(clients.map(execute, PLUGINS * 2))
        assert answers == [(200, name) for name in PLUGINS * 2]

        with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
            text = response.read().decode()
        workers = sum(metric(text, POOL_WORKERS.name, state=s) for s in POOL_STATES)
        assert 0 < workers <= MAX_WORKERS
        assert metric(text, POOL_EVICTIONS_TOTAL.name, reason="lru") >= len(PLUGINS)
        assert metric(text, "process_open_fds") < OPEN_FILES
        deadline = time.monotonic() + 30  # evicted workers are ended on threads of their own
        while len(list((home / "run").glob("*/*/w*"))) > MAX_WORKERS:
            assert time.monotonic() < deadline, "run folders of ended workers were left"
            time.sleep(0.1)
