"""Many runtime hosts, one view: the generated Prometheus config finds runtime hosts in
file-based discovery files (a host added by writing a file, no restart), labels each host's
series with its `host`, and the fleet's figures sum over hosts."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alerts import conventions as c
from contracts.catalogue import PLUGIN_EXECUTIONS
from dashboards.stack import RUNTIME_TARGETS, prometheus_yml, runtime_targets
from runtime.auth.tokens import TokenStore
from stack.processes import get_json, prometheus
from tests.install_support import an_installer
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow


def a_host(root: Path, name: str, registry: Path, key: Ed25519PrivateKey) -> tuple[Path, str]:
    home = root / name
    installer = an_installer(home, registry, key)
    assert installer.install("json-transform@1.2.0").state == "committed"
    installer.env.journal.close()
    token, _ = TokenStore(home).create("fleet-test", "operator", "tests")
    return home, token


def execute(base: str, token: str, times: int) -> None:
    for i in range(times):
        request = urllib.request.Request(
            f"{base}/v1/plugins/json-transform/execute",
            data=json.dumps({"inputs": {"record": {"n": i}}}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200


def until(what: Callable[[], Any], expected: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    seen = what()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        seen = what()
    assert seen == expected


def test_runtime_hosts_are_discovered_from_files_and_the_fleet_sums_over_them(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home_a, token_a = a_host(tmp_path, "a", writable_registry, signing_key)
    home_b, token_b = a_host(tmp_path, "b", writable_registry, signing_key)
    targets = tmp_path / "runtimes"
    targets.mkdir()
    config = yaml.safe_load(prometheus_yml().replace(RUNTIME_TARGETS, str(targets)))
    config["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s"})
    config["rule_files"] = []
    config["scrape_configs"] = [s for s in config["scrape_configs"]
                                if s["job_name"] == c.RUNTIME_JOB]
    with running_serve(home_a) as base_a, running_serve(home_b) as base_b, \
            prometheus(tmp_path / "prom", yaml.safe_dump(config), []) as url:

        def query(expr: str) -> dict[str, float]:
            answer = get_json(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
            return {r["metric"].get(c.HOST, ""): float(r["value"][1])
                    for r in answer["data"]["result"]}

        (targets / "a.yml").write_text(runtime_targets({"a": base_a.removeprefix("http://")}))
        until(lambda: query(f'up{{job="{c.RUNTIME_JOB}"}}'), {"a": 1.0})
        # a second host joins by its file: found without a restart
        (targets / "b.yml").write_text(runtime_targets({"b": base_b.removeprefix("http://")}))
        until(lambda: query(f'up{{job="{c.RUNTIME_JOB}"}}'), {"a": 1.0, "b": 1.0})

        execute(base_a, token_a, 3)
        execute(base_b, token_b, 2)
        success = f'{PLUGIN_EXECUTIONS.name}{{plugin="json-transform", outcome="success"}}'
        until(lambda: query(f"sum by ({c.HOST}) ({success})"), {"a": 3.0, "b": 2.0})
        until(lambda: query(f"sum ({success})"), {"": 5.0})
