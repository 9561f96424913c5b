"""`pluginops serve` as production runs it: a real WSGI server (waitress, not Werkzeug's
development server), a body limit enforced before the body is read, and a SIGTERM that drains:
readiness and new work answer 503 with Retry-After, the requests in flight finish and reach
their clients, the process exits 0; past the grace period it exits anyway."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from contracts.catalogue import (
    BUILD_INFO,
    HTTP_REQUESTS_IN_FLIGHT,
    INSTALL_IN_PROGRESS,
    INSTALL_TRANSACTIONS,
    POLICY_DENIALS,
    ROLLBACKS,
)
from contracts.codes import Code
from contracts.layout import Layout
from contracts.version import __version__
from runtime.auth.tokens import TokenStore
from stack.processes import free_port
from tests.install_support import an_installer, publish_plugin
from tests.serve_support import PLUGINOPS

pytestmark = pytest.mark.slow

SLOW_S = 6  # the slow plugin's work: long enough for SIGTERM and two requests to arrive during it


def request(url: str, body: Any = None, token: str = "") -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json",
               **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            raw = response.read().decode()
            kind = response.headers.get("Content-Type", "")
            return response.status, dict(response.headers), \
                json.loads(raw) if "json" in kind else raw
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read().decode())


class Serve:
    def __init__(self, home: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / "serve.log"
        with self.log.open("w") as err:
            self.process = subprocess.Popen(
                [PLUGINOPS, "serve", "--port", str(self.port), "--home", str(home), *args],
                stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(f"{self.url}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert self.process.poll() is None and time.monotonic() < deadline, \
                self.log.read_text()
            time.sleep(0.05)

    def in_flight(self) -> float:
        text = request(f"{self.url}/metrics")[2]
        line = next(x for x in text.splitlines() if x.startswith(HTTP_REQUESTS_IN_FLIGHT.name))
        return float(line.split()[-1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def home(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> Path:
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "slow", "1.0.0",
                   "import time\n\ndef run(inputs, ctx):\n"
                   "    time.sleep(inputs.get('seconds', 0))\n    return {'slept': True}\n")
    installer = an_installer(home, writable_registry, signing_key)
    assert installer.install("slow").state == "committed"
    installer.env.journal.close()
    return home


@pytest.fixture
def token(home: Path) -> str:
    made, _ = TokenStore(home).create("ops", "operator", "tests")
    return made


@pytest.fixture
def served(home: Path) -> Iterator[Serve]:
    server = Serve(home, "--max-body", "4096", "--grace", "60")
    yield server
    server.stop()


def test_serve_is_a_production_server_that_refuses_big_bodies_unread(
        served: Serve, home: Path, token: str) -> None:
    status, headers, _ = request(f"{served.url}/healthz")
    assert status == 200 and headers["Server"] == "pluginops"
    scrape = request(f"{served.url}/metrics")[2]
    assert _sample(scrape, BUILD_INFO.name, {"version": __version__,
                                             "python": platform.python_version()}) == 1
    assert (_sample(scrape, "process_resident_memory_bytes", {}) or 0) > 0
    assert (_sample(scrape, "process_open_fds", {}) or 0) > 0
    audit = Layout(home).audit_log
    before = audit.read_bytes() if audit.exists() else b""
    # 10 MB announced, not one byte of it sent: the answer comes without waiting for the body
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/plugins/slow/execute HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n")
        answer = _until_closed(sock).decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413")
    error = json.loads(body)["error"]
    assert error["code"] == Code.BODY_TOO_LARGE and error["next_step"]
    # a body within the limit is served; one over it, sent chunked with no length, is not
    assert request(f"{served.url}/v1/plugins/slow/execute", {"inputs": {}}, token)[0] == 200
    chunk = b"a" * 3000
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/plugins/slow/execute HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" +
                     (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
        assert _until_closed(sock).startswith(b"HTTP/1.1 413")
    served.process.send_signal(signal.SIGTERM)  # writes the queued execution records
    assert served.process.wait(timeout=60) == 0
    after = audit.read_bytes() if audit.exists() else b""
    assert after.count(b"\n") == before.count(b"\n") + 1  # the one execution served, only
    log = served.log.read_text()
    assert "Werkzeug" not in log and "development server" not in log
    assert "serving on http://127.0.0.1" in log


def test_sigterm_drains_the_work_in_flight_and_refuses_new_work(
        served: Serve, token: str) -> None:
    result: dict[str, Any] = {}

    def slow_execution() -> None:
        result["reply"] = request(f"{served.url}/v1/plugins/slow/execute",
                                  {"inputs": {"seconds": SLOW_S}}, token)

    worker = threading.Thread(target=slow_execution)
    worker.start()
    deadline = time.monotonic() + 30
    while served.in_flight() < 1:  # the execution is being served
        assert time.monotonic() < deadline
        time.sleep(0.02)
    served.process.send_signal(signal.SIGTERM)
    while "draining" not in served.log.read_text():
        assert served.process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)

    status, headers, body = request(f"{served.url}/v1/plugins", token=token)
    assert (status, body["error"]["code"]) == (503, Code.SERVER_DRAINING), served.log.read_text()
    assert int(headers["Retry-After"]) > 0
    assert request(f"{served.url}/readyz")[0] == 503  # load balancers stop sending work
    assert request(f"{served.url}/healthz")[0] == 200  # and the process is not killed early

    worker.join(timeout=60)
    status, _, body = result["reply"]
    assert (status, body["output"]) == (200, {"slept": True})  # nothing lost
    assert served.process.wait(timeout=30) == 0
    log = served.log.read_text()
    assert "SIGTERM: draining (1 requests in flight" in log and "drained" in log


def test_past_the_grace_period_the_server_exits_anyway(home: Path, token: str) -> None:
    served = Serve(home, "--grace", "0.5")
    try:
        worker = threading.Thread(target=lambda: _swallow(
            lambda: request(f"{served.url}/v1/plugins/slow/execute",
                            {"inputs": {"seconds": SLOW_S}}, token)))
        worker.start()
        deadline = time.monotonic() + 30
        while served.in_flight() < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(timeout=SLOW_S * 3) == 0
        assert "grace period over with 1 requests in flight" in served.log.read_text()
        worker.join(timeout=60)
    finally:
        served.stop()


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends before it closes the connection (it closes after a 413)."""
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def _swallow(call: Any) -> None:
    with contextlib.suppress(OSError):  # the connection closes under it: the grace period ended
        call()


def test_serve_still_refuses_a_port_in_use(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([PLUGINOPS, "serve", "--port", str(port), "--home", str(home)],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ})
    assert done.returncode != 0 and Code.LISTEN_FAILED in done.stderr
    assert "Traceback" not in done.stderr


def _sample(text: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def test_a_cli_update_rolled_back_while_serve_runs_shows_on_its_next_scrape(
        served: Serve, home: Path, tmp_path: Path, writable_registry: Path,
        signing_key: Ed25519PrivateKey) -> None:
    """Counters come from the journal, not from the process that ran the operation: an update
    made and rolled back by the CLI counts on serve's /metrics at the next scrape."""
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "slow", "1.1.0",
                   "def run(inputs, ctx):\n    return {}\n")
    key = tmp_path / "trusted.pub"
    key.write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    labels = {"plugin": "slow", "phase": "activate", "reason": Code.INJECTED_FAILURE}
    before = request(f"{served.url}/metrics")[2]
    assert _sample(before, ROLLBACKS.name, labels) is None
    done = subprocess.run([PLUGINOPS, "update", "slow", "--inject-failure", "activate",
                           "--home", str(home), "--registry", str(writable_registry),
                           "--trust", str(key)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "rolled back" in (done.stdout + done.stderr).lower()
    after = request(f"{served.url}/metrics")[2]
    assert _sample(after, ROLLBACKS.name, labels) == 1
    assert _sample(after, INSTALL_TRANSACTIONS.name, {
        "plugin": "slow", "operation": "update", "outcome": "rolled_back"}) == 1
    assert _sample(after, INSTALL_TRANSACTIONS.name, {
        "plugin": "slow", "operation": "install", "outcome": "committed"}) == 1
    assert _sample(after, INSTALL_IN_PROGRESS.name, {"plugin": "slow"}) == 0


def test_a_denial_in_a_cli_run_counts_on_serves_next_scrape(
        served: Serve, home: Path, tmp_path: Path, writable_registry: Path,
        signing_key: Ed25519PrivateKey) -> None:
    """Denials are counted from the audit log, which `pluginops run` appends to as `serve`
    does."""
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "snoop", "1.0.0",
                   f"def run(inputs, ctx):\n    return {{'s': open({str(secret)!r}).read()}}\n")
    installer = an_installer(home, writable_registry, signing_key)
    assert installer.install("snoop").state == "committed"
    installer.env.journal.close()
    labels = {"plugin": "snoop", "profile": "node", "operation": "file.read"}
    assert _sample(request(f"{served.url}/metrics")[2], POLICY_DENIALS.name, labels) is None
    done = subprocess.run([PLUGINOPS, "run", "snoop", "--home", str(home)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "denied" in done.stdout + done.stderr
    assert _sample(request(f"{served.url}/metrics")[2], POLICY_DENIALS.name, labels) == 1
