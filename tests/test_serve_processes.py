"""`pluginops serve --processes N`: several serving processes on one port, supervised, with one
set of metrics and one set of UI sessions between them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from contracts.catalogue import BUILD_INFO, PLUGIN_EXECUTIONS, POOL_WORKERS
from contracts.codes import Code
from contracts.errors import OperationFailed
from contracts.layout import Layout
from runtime.api import balance, prefork
from runtime.auth.sessions import Sessions
from runtime.auth.tokens import Principal, TokenStore
from runtime.sandbox import run_folders
from tests.install_support import an_installer
from tests.serve_support import PLUGINOPS, serve_process

pytestmark = pytest.mark.slow
PLUGIN = "json-transform"


def until(what: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    """`what()` once it is truthy (polled; the deadline only bounds a failure)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def home(tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> Path:
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    assert installer.install(f"{PLUGIN}@1.2.0").state == "committed"
    installer.env.journal.close()
    return home


def operator(home: Path) -> str:
    return TokenStore(home).create("load", "operator", "tests")[0]


class Client:
    """One keep-alive connection (so one serving process holds it)."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=30)
        self.token = token

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        self.connection.request(method, path, body=body, headers={
            **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
            **(headers or {})})
        response = self.connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def execute(self) -> int:
        return self.request("POST", f"/v1/plugins/{PLUGIN}/execute",
                            json.dumps({"inputs": {"text": "hi"}}).encode(),
                            {"Content-Type": "application/json"})[0]


def samples(base: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = Client(base, "").request("GET", "/metrics")[2].decode()
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name}


def executions(base: str) -> float:
    return sum(samples(base, PLUGIN_EXECUTIONS.name).values())


def idle_workers(base: str) -> float:
    return samples(base, POOL_WORKERS.name).get((("state", "idle"),), 0.0)


def serving(supervisor: subprocess.Popen[bytes]) -> list[int]:
    """The supervisor's serving processes (its children)."""
    path = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children")
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def connections(home: Path, supervisor: subprocess.Popen[bytes]) -> balance.ConnectionShare:
    """How many connections each serving process holds."""
    return balance.ConnectionShare(
        prefork.connections_file(Layout(home).serving_metrics / str(supervisor.pid)), 0)


@pytest.fixture
def two(home: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Two serving processes, both accepting connections."""
    with serve_process(home, "--processes", "2", "--threads", "2",
                       log_file=tmp_path / "serve.log") as (base, supervisor):
        share = connections(home, supervisor)
        assert until(lambda: balance.ABSENT not in share.held())
        yield base, supervisor


def test_two_processes_share_the_port_the_connections_and_their_metrics(
        home: Path, two: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, supervisor = two
    token = operator(home)
    first = Client(base, token)
    assert first.execute() == 200  # held by one process, which then listens no more...
    second = Client(base, token)
    assert second.execute() == 200  # ...so the other one takes the next connection
    share = connections(home, supervisor)
    assert until(lambda: sorted(share.held()) == [1, 1])
    for _ in range(20):
        assert (first.execute(), second.execute()) == (200, 200)

    # one exposition, whichever process answers it: every process's counts, summed
    assert executions(base) == 42
    assert until(lambda: idle_workers(base) == 2)  # a warm worker in each process
    # each process's workers have folders of their own
    owners = {folder.name.split("-")[0] for folder in
              Layout(home).run_dir(PLUGIN, "1.2.0").iterdir()}
    assert owners == {f"p{pid}" for pid in serving(supervisor)}
    (info,) = samples(base, BUILD_INFO.name).values()
    assert info == 1


def test_a_serving_process_that_dies_is_replaced_and_no_count_goes_back(
        home: Path, two: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, supervisor = two
    token = operator(home)
    clients = [Client(base, token) for _ in range(2)]
    assert [c.execute() for c in clients for _ in range(3)] == [200] * 6
    before = serving(supervisor)
    os.kill(before[0], signal.SIGKILL)
    after = until(lambda: (pids := serving(supervisor)) and len(pids) == 2
                  and before[0] not in pids and pids)
    assert after and before[1] in after
    assert [Client(base, token).execute() for _ in range(4)] == [200] * 4
    assert executions(base) == 10  # the killed process's executions still count
    assert supervisor.poll() is None


def test_stopping_the_supervisor_drains_every_process(
        home: Path, tmp_path: Path) -> None:
    with serve_process(home, "--processes", "2", log_file=tmp_path / "serve.log") as (
            base, supervisor):
        children = until(lambda: len(pids := serving(supervisor)) == 2 and pids)
        assert Client(base, operator(home)).execute() == 200
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=60) == 0
        assert not any(alive(pid) for pid in children)


def test_serving_processes_end_when_their_supervisor_is_killed(
        home: Path, tmp_path: Path) -> None:
    with serve_process(home, "--processes", "2", log_file=tmp_path / "serve.log") as (
            _, supervisor):
        children = until(lambda: len(pids := serving(supervisor)) == 2 and pids)
        supervisor.kill()
        supervisor.wait()
        assert until(lambda: not any(alive(pid) for pid in children))


def test_a_session_started_on_one_process_holds_on_the_other(
        home: Path, two: tuple[str, subprocess.Popen[bytes]]) -> None:
    base, supervisor = two
    token = TokenStore(home).create("viewer", "viewer", "tests")[0]
    first, second = Client(base, ""), Client(base, "")
    assert first.request("GET", "/healthz")[0] == 200
    assert second.request("GET", "/healthz")[0] == 200
    share = connections(home, supervisor)
    assert until(lambda: sorted(share.held()) == [1, 1])  # a connection on each process
    status, headers, _ = first.request(
        "POST", "/ui/login", f"token={token}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302
    cookie = headers["Set-Cookie"].split(";")[0]
    for client in (second, first):
        status, _, page = client.request("GET", "/ui/", headers={"Cookie": cookie})
        assert status == 200 and b"viewer" in page


def test_sessions_in_one_file_are_one_set_of_sessions(tmp_path: Path) -> None:
    one, other = (Sessions(store=tmp_path / "sessions.db") for _ in range(2))
    sid = one.start(Principal("t1", "ada", "viewer"))
    seen = other.get(sid)
    assert seen is not None and seen.principal.user == "ada"
    other.end(sid)
    assert one.get(sid) is None
    assert sid not in (tmp_path / "sessions.db").read_bytes().decode(errors="replace")


def test_worker_folders_of_processes_no_longer_running_are_removed(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    runs = tmp_path / "run"
    mine = run_folders.worker_folder(runs / "p" / "1.0.0", 1)
    theirs = runs / "p" / "1.0.0" / f"p{ended.pid}-w1"
    for folder in (mine, theirs):
        (folder / "scratch").mkdir(parents=True)
    assert run_folders.remove_orphans(runs) == 1
    assert mine.exists() and not theirs.exists()


def test_a_port_in_use_is_refused_before_any_process_starts(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([PLUGINOPS, "serve", "--processes", "2", "--port", str(port),
                               "--home", str(home)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert Code.LISTEN_FAILED in done.stderr and "Traceback" not in done.stderr
    assert not list((Layout(home).serving_metrics).glob("*"))


def test_processes_that_keep_failing_at_start_stop_the_supervisor(tmp_path: Path) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        supervisor = prefork.Supervisor(
            command=lambda index: [sys.executable, "-c", "raise SystemExit(3)"], count=1,
            listening=listening, env=dict(os.environ), shared=tmp_path, log=lambda line: None,
            grace_s=1)
        with pytest.raises(OperationFailed) as failed:
            supervisor.run()
    assert failed.value.code == Code.SERVING_PROCESSES_FAILED
    assert not supervisor.pids()
