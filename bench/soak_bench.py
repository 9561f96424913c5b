"""A soak of `pluginops serve`: minutes of executions at the throughput goal with faults mixed in
(a plugin whose worker dies, a slow plugin, a plugin that exhausts its memory limit, and an
update then a rollback of a plugin in the middle of its traffic), then a pass/fail summary. The
bulk of the traffic is a trivial plugin's, sent by ApacheBench (`ab`, keep-alive, in runs of
about two seconds, each answered in full); Python clients send the mix with the faults.

- no execution lost or counted twice: for each plugin and outcome, the executions counter on
  `/metrics` moved by exactly what the clients received;
- every fault shows where the docs say: the dead worker as `error` (WorkerDied), the memory
  exhaustion as `denied` (MemoryError, rule limits.memory_mb), audited and counted in
  `pluginops_policy_denials_total`, the slow plugin as `success`, the update and the rollback as
  committed transactions, and the plugin's traffic answered throughout;
- the serving processes' memory is flat after warm-up: their resident memory over the last
  fifth of the run within 10% (and 16 MB) of the second fifth;
- the executions per second over the whole run reached `--target` (0: not judged).

    .venv/bin/python bench/soak_bench.py [--seconds 600] [--clients 4] [--bulk-clients 8]
                                         [--processes 3] [--threads 2] [--target 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import PLUGINOPS, Run, ab, pluginops, publish, stop, workspace  # noqa: E402
from contracts.catalogue import PLUGIN_EXECUTIONS, POLICY_DENIALS  # noqa: E402
from stack.processes import free_port  # noqa: E402

PLUGINS = {
    "noop": "def run(inputs, ctx):\n    return inputs\n",
    "crasher": "import os\n\ndef run(inputs, ctx):\n    os._exit(3)\n",
    "sleeper": "import time\n\ndef run(inputs, ctx):\n    time.sleep(0.3)\n    return {}\n",
    "hog": "def run(inputs, ctx):\n    return {'size': len(bytearray(1 << 34))}\n",
}
VERSIONED = "versioned"
MIX = [("noop", 88), ("crasher", 3), ("sleeper", 3), ("hog", 2), (VERSIONED, 4)]


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()  # (plugin, error type)
        self.statuses: Counter[int] = Counter()
        self.versioned_failures = 0

    def add(self, plugin: str, status: int, body: dict[str, Any]) -> None:
        with self.lock:
            self.statuses[status] += 1
            if "outcome" in body:
                self.outcomes[(plugin, body["outcome"])] += 1
                if body.get("error"):
                    self.errors[(plugin, str(body["error"].get("type")))] += 1
            if plugin == VERSIONED and status != 200:
                self.versioned_failures += 1


def call(connection: http.client.HTTPConnection, method: str, path: str, token: str,
         body: Any = None) -> tuple[int, dict[str, Any]]:
    connection.request(method, path, body=json.dumps(body or {}),
                       headers={"Content-Type": "application/json",
                                "Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def scrape(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return text


def executions(text: str) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        if not line.startswith(PLUGIN_EXECUTIONS.name + "{"):
            continue
        labels = dict(part.split("=", 1) for part in line[line.index("{") + 1:
                                                          line.index("}")].split(","))
        key = (labels["plugin"].strip('"'), labels["outcome"].strip('"'))
        counts[key] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def memory_denials(text: str) -> float:
    """The hog's denials on /metrics, counted from the audit log."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(POLICY_DENIALS.name + "{") and 'plugin="hog"' in line
               and 'operation="memory"' in line)


def serving_pids(server: subprocess.Popen[bytes]) -> list[int]:
    """The processes that serve: the supervisor's children, or the server itself."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    found = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return found or [server.pid]


def resident(pids: list[int]) -> float:
    """Their resident memory, summed (bytes)."""
    total = 0.0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        total += next(float(line.split()[1]) * 1024 for line in status.splitlines()
                      if line.startswith("VmRSS:"))
    return total


class Bulk:
    """The trivial plugin's executions from ab, in runs of about `RUN_S` each, until halted."""

    RUN_S = 2.0

    def __init__(self, url: str, clients: int, body: Path, token: str) -> None:
        self.url, self.clients, self.body, self.token = url, clients, body, token
        self.runs: list[Run] = []

    def send(self, halt: threading.Event) -> None:
        requests = 500  # the first run measures the rate the next ones are sized by
        while not halt.is_set():
            run = ab(self.url, requests, self.clients, self.body, self.token)
            self.runs.append(run)
            requests = max(200, int(run.per_s * self.RUN_S))

    @property
    def ok(self) -> int:
        return sum(run.ok for run in self.runs)

    @property
    def answered(self) -> int:
        return sum(run.sent for run in self.runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--clients", type=int, default=4, help="Python clients: the mix")
    parser.add_argument("--bulk-clients", type=int, default=8,
                        help="ab's: the trivial plugin (0: none)")
    parser.add_argument("--processes", type=int, default=3, help="serve --processes")
    parser.add_argument("--threads", type=int, default=2, help="serve --threads")
    parser.add_argument("--target", type=float, default=1000.0,
                        help="executions/s the run must reach (0: not judged)")
    options = parser.parse_args()
    with workspace("pluginops-soak-") as work:
        home = work / "home"
        server: subprocess.Popen[bytes] | None = None
        try:
            pluginops(home, "keygen")
            for name, code in PLUGINS.items():
                publish(home, work / "src", name, "1.0.0", code)
            for version in ("1.0.0", "1.1.0"):
                publish(home, work / "src", VERSIONED, version,
                        f"def run(inputs, ctx):\n    return {{'version': {version!r}}}\n")
            for name in (*PLUGINS, f"{VERSIONED}@1.0.0"):
                pluginops(home, "install", name)
            token = pluginops(home, "token", "create", "--user", "soak", "--role",
                              "operator").strip()
            port = free_port()
            log = (work / "serve.log").open("wb")
            server = subprocess.Popen([PLUGINOPS, "serve", "--port", str(port), "--home",
                                       str(home), "--processes", str(options.processes),
                                       "--threads", str(options.threads)],
                                      stdout=log, stderr=log)
            deadline = time.monotonic() + 60
            while True:
                try:
                    scrape(port)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("serve did not start") from None
                    time.sleep(0.2)
            first = scrape(port)
            before, denials_before = executions(first), memory_denials(first)
            tally, halt = Tally(), threading.Event()
            names = [name for name, weight in MIX for _ in range(weight)]

            def client(seed: int) -> None:
                pick = random.Random(seed)
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                while not halt.is_set():
                    name = pick.choice(names)
                    status, body = call(connection, "POST", f"/v1/plugins/{name}/execute", token,
                                        {"inputs": {"n": pick.random()}})
                    tally.add(name, status, body)
                connection.close()

            body = work / "body.json"
            body.write_text(json.dumps({"inputs": {"text": "hi"}}))
            bulk = Bulk(f"http://127.0.0.1:{port}/v1/plugins/noop/execute", options.bulk_clients,
                        body, token)
            def admin() -> http.client.HTTPConnection:
                """A connection per operation: the server closes one idle for a minute."""
                return http.client.HTTPConnection("127.0.0.1", port, timeout=120)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(options.clients)]
            if options.bulk_clients:
                threads.append(threading.Thread(target=bulk.send, args=(halt,)))
            started = time.monotonic()
            for thread in threads:
                thread.start()
            memory: list[tuple[float, float]] = []
            operations: dict[str, int] = {}
            while (elapsed := time.monotonic() - started) < options.seconds:
                memory.append((elapsed, resident(serving_pids(server))))
                if "update" not in operations and elapsed > options.seconds * 0.4:
                    operations["update"] = call(admin(), "POST",
                                                f"/v1/plugins/{VERSIONED}/update", token)[0]
                if "rollback" not in operations and elapsed > options.seconds * 0.6:
                    operations["rollback"] = call(admin(), "POST",
                                                  f"/v1/plugins/{VERSIONED}/rollback", token)[0]
                time.sleep(min(5.0, options.seconds / 20))
            halt.set()
            for thread in threads:
                thread.join()
            took = time.monotonic() - started
            after = scrape(port)
            counted = executions(after) - before
            denials = memory_denials(after) - denials_before
            tally.outcomes[("noop", "success")] += bulk.ok
            tally.statuses[200] += bulk.ok
            tally.statuses[0] += bulk.answered - bulk.ok  # ab's other answers and failures
            return summary(tally, counted, denials, memory, operations, took, options)
        finally:
            if server is not None:
                stop(server)


def summary(tally: Tally, counted: Counter[tuple[str, str]], denials: float,
            memory: list[tuple[float, float]], operations: dict[str, int], took: float,
            options: argparse.Namespace) -> int:
    answered = sum(tally.statuses.values())
    seconds = options.seconds
    print(f"{answered} requests in {took:.0f} s ({answered / took:.0f}/s; {options.processes} "
          f"processes x {options.threads} threads), statuses "
          f"{dict(sorted(tally.statuses.items()))} (0: ab's failures)")
    checks: list[tuple[str, bool]] = []
    if options.target:
        checks.append((f"at least {options.target:.0f} executions/s over the run",
                       answered / took >= options.target))
    checks.append(("no request failed (ab's bulk all 2xx)", tally.statuses[0] == 0))
    received = +tally.outcomes
    checks.append(("every execution counted once (counter == client tally per plugin and "
                   "outcome)", +counted == received))
    if +counted != received:
        print(f"  counter {dict(+counted)}\n  clients {dict(received)}")
    checks.append(("dead workers answered as error WorkerDied",
                   tally.errors[("crasher", "WorkerDied")] == tally.outcomes[("crasher",
                                                                              "error")] > 0))
    if not checks[-1][1]:
        print(f"  crasher: {dict(tally.errors)}, outcomes {dict(tally.outcomes)}")
    checks.append(("memory exhaustion answered as denied MemoryError, each denial audited",
                   tally.errors[("hog", "MemoryError")] == tally.outcomes[("hog", "denied")]
                   == denials > 0))
    checks.append(("the slow plugin succeeded", tally.outcomes[("sleeper", "success")] > 0 and
                   tally.outcomes[("sleeper", "error")] == 0))
    checks.append((f"update and rollback committed mid-traffic ({operations})",
                   operations == {"update": 200, "rollback": 200}))
    checks.append(("the updated and rolled back plugin answered throughout",
                   tally.versioned_failures == 0 and tally.outcomes[(VERSIONED, "success")] > 0))
    fifth = seconds / 5
    early = [rss for at, rss in memory if fifth <= at < 2 * fifth]
    late = [rss for at, rss in memory if at >= 4 * fifth]
    if early and late:
        grown = sum(late) / len(late) - sum(early) / len(early)
        flat = grown <= max(0.10 * sum(early) / len(early), 16 * 1024 * 1024)
        checks.append((f"memory flat after warm-up (grew {grown / 1048576:+.1f} MB)", flat))
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    passed = all(ok for _, ok in checks)
    print(f"soak: {'passed' if passed else 'FAILED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
