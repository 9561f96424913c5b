"""Starting and stopping Prometheus, Alertmanager and VictoriaMetrics (Debian's binaries) on
loopback, with their configs and data in a folder of ours, waiting on readiness with a
deadline."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contracts.codes import Code
from contracts.errors import PluginopsError

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"  # Debian's name for the binary
VICTORIA_METRICS = "victoria-metrics"  # single node: storage, remote_write receiver, query API
VMAGENT = "vmagent"
VMALERT = "vmalert"
PACKAGES = {PROMETHEUS: "prometheus", "promtool": "prometheus", ALERTMANAGER:
            "prometheus-alertmanager", "amtool": "prometheus-alertmanager",
            VICTORIA_METRICS: "victoria-metrics", VMAGENT: "victoria-metrics",
            VMALERT: "victoria-metrics"}
READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        package = PACKAGES.get(binary, binary)
        raise PluginopsError(Code.BINARY_MISSING, f"{binary} is not installed", where=binary,
                             next_step=f"apt-get install {package} (`make test` installs it)")
    return path


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path,
               timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PluginopsError(Code.PROCESS_EXITED, f"exited with {process.returncode}",
                                 where=url, next_step=f"see {log}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise PluginopsError(Code.NOT_READY, f"not ready within {timeout:g} s", where=url,
                         next_step=f"see {log}")


@contextmanager
def child(command: list[str], log: Path, url: str | None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        if url is not None:
            wait_ready(url, process, log)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def alertmanager(folder: Path, config_text: str, port: int | None = None) -> Iterator[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alertmanager.yml").write_text(config_text)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [require(ALERTMANAGER), f"--config.file={folder / 'alertmanager.yml'}",
               f"--storage.path={folder / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
               f"--web.external-url={url}", "--cluster.listen-address="]
    with child(command, folder / "alertmanager.log", url):
        yield url


@contextmanager
def prometheus(folder: Path, config_text: str, rules: list[Path],
               port: int | None = None, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for rule in rules:
        shutil.copy(rule, folder / rule.name)
    (folder / "prometheus.yml").write_text(config_text)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [require(PROMETHEUS), f"--config.file={folder / 'prometheus.yml'}",
               f"--storage.tsdb.path={folder / 'tsdb'}", "--storage.tsdb.retention.time=90d",
               f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
               f"--web.external-url={url}", "--enable-feature=exemplar-storage", *extra_args]
    with child(command, folder / "prometheus.log", url):
        yield url


@contextmanager
def victoria_metrics(folder: Path, port: int | None = None) -> Iterator[str]:
    """A single-node VictoriaMetrics: accepts remote_write at /api/v1/write and answers the
    Prometheus query API. Its result cache is off, so a query sees what was just written."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [require(VICTORIA_METRICS), f"-storageDataPath={folder / 'data'}",
               f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y",
               "-search.disableCache", "-loggerLevel=WARN"]
    with child(command, folder / "victoria-metrics.log", url):
        yield url


@contextmanager
def vmagent(folder: Path, remote_write_url: str, port: int | None = None,
            extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """vmagent forwarding what it scrapes or is sent to a remote_write endpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [require(VMAGENT), f"-httpListenAddr=127.0.0.1:{port}",
               f"-remoteWrite.url={remote_write_url}",
               f"-remoteWrite.tmpDataPath={folder / 'buffer'}", "-loggerLevel=WARN",
               *extra_args]
    with child(command, folder / "vmagent.log", url):
        yield url


def wait_until(what: Callable[[], Any], expected: Any, timeout: float = READY_TIMEOUT_S,
               where: str = "stack") -> None:
    """Until `what()` returns `expected`, polling; NOT_READY with the last answer past the
    deadline."""
    deadline = time.monotonic() + timeout
    seen = what()
    while seen != expected:
        if time.monotonic() > deadline:
            raise PluginopsError(Code.NOT_READY, f"{seen!r} after {timeout:g} s, expected "
                                 f"{expected!r}", where=where, next_step="see the logs")
        time.sleep(0.2)
        seen = what()


def wait_for_alertmanager(prometheus_url: str, timeout: float = READY_TIMEOUT_S) -> None:
    """Prometheus finds its Alertmanagers a few seconds after start; alerts sent before that
    are dropped until the resend delay, so wait until it lists one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get_json(f"{prometheus_url}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]:
            return
        time.sleep(0.1)
    raise PluginopsError(Code.ALERTMANAGER_NOT_DISCOVERED, "Prometheus lists no Alertmanager",
                         where=prometheus_url, next_step="check the alerting section")


def post_alerts(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(f"{url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def alert_states(url: str) -> list[dict[str, Any]]:
    query = "active=true&silenced=true&inhibited=true&unprocessed=true"
    return list(get_json(f"{url}/api/v2/alerts?{query}"))
