"""`pluginops serve` under load: a real server process, real HTTP, and /metrics that add up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from contracts.catalogue import (
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    POOL_WORKERS,
    Span,
)
from contracts.layout import Layout
from runtime.auth.tokens import TokenStore
from runtime.sandbox.metering import DailyMeter
from tests.install_support import an_installer, publish_plugin

pytestmark = pytest.mark.slow
PLUGINOPS = str(Path(sys.executable).parent / "pluginops")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server(str):
    """The server's base URL, carrying an operator's API token and the file its spans go to."""

    token: str = ""
    spans: Path = Path()


def call(url: str, body: Any = None, accept: str = "", token: str = "") -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json", **auth,
                                              **({"Accept": accept} if accept else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read().decode()
            return response.status, json.loads(raw) if "json" in response.headers.get(
                "Content-Type", "") else raw
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read().decode())


@pytest.fixture
def server(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> Any:
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "flaky", "1.0.0",
                   "def run(inputs, ctx):\n    if inputs.get('fail'):\n"
                   "        raise ValueError('asked to fail')\n    return {'ok': True}\n")
    installer = an_installer(home, writable_registry, signing_key)
    for name in ("json-transform@1.2.0", "flaky"):
        assert installer.install(name).state == "committed"
    installer.env.journal.close()
    token, _ = TokenStore(home).create("load-test", "operator", "tests")
    port = free_port()
    spans = tmp_path / "spans.json"  # the console exporter writes each finished span to stdout
    with spans.open("w") as out:
        process = subprocess.Popen([PLUGINOPS, "serve", "--port", str(port), "--home", str(home)],
                                   stdout=out, stderr=subprocess.PIPE,
                                   env={**os.environ, "OTEL_TRACES_EXPORTER": "console"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if call(f"{base}/readyz")[0] == 200:
                break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError(process.stderr.read().decode() if process.stderr else "")
    served = Server(base)
    served.token = token
    served.spans = spans
    yield served
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    shutil.rmtree(home / "run", ignore_errors=True)


def test_serve_under_load_exposes_correct_execution_latency_and_cost_metrics(
        server: Server) -> None:
    jobs = [("json-transform", {"inputs": {"record": {"n": i}}}) for i in range(120)]
    jobs += [("flaky", {"inputs": {"fail": True}}) for _ in range(30)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda job: call(f"{server}/v1/plugins/{job[0]}/execute",
                                                 job[1], token=server.token), jobs))
    statuses = Counter(status for status, _ in replies)
    assert statuses == {200: 120, 422: 30}
    assert {body["output"]["record"]["n"] for status, body in replies if status == 200} == \
        set(range(120))
    status, text = call(f"{server}/metrics", accept="application/openmetrics-text")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    executions = {(s.labels["plugin"], s.labels["outcome"]): s.value
                  for s in families[PLUGIN_EXECUTIONS.name.removesuffix("_total")].samples
                  if s.name.endswith("_total")}
    assert executions[("json-transform", "success")] == 120
    assert executions[("flaky", "error")] == 30
    latency = families[PLUGIN_EXECUTION_DURATION.name]
    counts = {s.labels["plugin"]: s.value for s in latency.samples if s.name.endswith("_count")}
    assert counts == {"json-transform": 120, "flaky": 30}
    exemplars = [s.exemplar for s in latency.samples if s.exemplar is not None]
    assert exemplars
    assert all(len(e.labels["trace_id"]) == 32 and e.labels["trace_id"].strip("0")
               for e in exemplars), "exemplars carry the real trace ids"
    cost = {s.labels["plugin"]: s.value
            for s in families[PLUGIN_EXECUTION_COST.name.removesuffix("_total")].samples
            if s.name.endswith("_total")}
    assert cost["json-transform"] > 0
    # no `_created` series: nothing reads them, and they are a quarter of a fleet's series
    assert not [s.name for f in families.values() for s in f.samples
                if s.name.endswith("_created")]


def test_execute_errors_are_structured(server: Server) -> None:
    status, body = call(f"{server}/v1/plugins/not-there/execute", {"inputs": {}},
                        token=server.token)
    assert (status, body["error"]["code"]) == (404, "NOT_INSTALLED")
    status, body = call(f"{server}/v1/plugins/json-transform/execute", {"input": {}},
                        token=server.token)
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")


def finished_spans(path: Path) -> list[dict[str, Any]]:
    """The spans the console exporter printed: JSON objects one after another."""
    text, decoder, found, at = path.read_text(), json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) >= 0:
        span, at = decoder.raw_decode(text, at)
        found.append(span)
    return found


def test_a_callers_trace_continues_through_the_server_span_into_the_execution(
        server: Server) -> None:
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    request = urllib.request.Request(
        f"{server}/v1/plugins/json-transform/execute", method="POST",
        data=json.dumps({"inputs": {"text": "hi"}}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {server.token}",
                 "traceparent": f"00-{caller_trace}-{caller_span}-01"})
    with urllib.request.urlopen(request, timeout=30) as response:
        returned = response.headers["traceparent"]
    assert call(f"{server}/readyz")[0] == 200  # probes are not traced

    version, trace_id, server_span_id, flags = returned.split("-")
    assert (version, trace_id, flags) == ("00", caller_trace, "01")
    spans = finished_spans(server.spans)
    served = [s for s in spans if s["kind"] == "SpanKind.SERVER"]
    assert [s["name"] for s in served] == ["POST /v1/plugins/<name>/execute"]
    (span,) = served
    assert span["context"] == {"trace_id": f"0x{caller_trace}", "span_id": f"0x{server_span_id}",
                               "trace_state": "[]"}
    assert span["parent_id"] == f"0x{caller_span}"
    assert span["attributes"]["http.route"] == "/v1/plugins/<name>/execute"
    assert span["attributes"]["http.status_code"] == 200
    (execution,) = [s for s in spans if s["name"] == Span.EXECUTE]
    assert execution["parent_id"] == f"0x{server_span_id}"
    assert execution["context"]["trace_id"] == f"0x{caller_trace}"


def test_a_starting_server_pre_warms_the_plugins_executed_most(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    """The meter's durable counts say which plugins were busy this week: `serve` starts a warm
    worker for each (up to `keep_warm`) without waiting for their first execution."""
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    assert installer.install("json-transform@1.2.0").state == "committed"
    installer.env.journal.close()
    meter = DailyMeter(Layout(home).metering_db)
    meter.add("json-transform", time.time(), 0, 0.0)
    meter.close()
    port = free_port()
    process = subprocess.Popen([PLUGINOPS, "serve", "--port", str(port), "--home", str(home)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        idle = 0.0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and idle < 1:
            try:
                status, text = call(f"http://127.0.0.1:{port}/metrics",
                                    accept="application/openmetrics-text")
            except OSError:
                status, text = 0, ""
            if status == 200:
                idle = sum(s.value for f in text_string_to_metric_families(text)
                           if f.name == POOL_WORKERS.name for s in f.samples
                           if s.labels.get("state") == "idle")
            time.sleep(0.1)
        assert idle == 1
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert b"pre-warmed workers for 1 plugins: json-transform" in stderr
