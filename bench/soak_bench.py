"""A soak of `pluginops serve`: minutes of executions from keep-alive clients with faults mixed in
(a plugin whose worker dies, a slow plugin, a plugin that exhausts its memory limit, and an
update then a rollback of a plugin in the middle of its traffic), then a pass/fail summary:

- no execution lost or counted twice: for each plugin and outcome, the executions counter on
  `/metrics` moved by exactly what the clients received;
- every fault shows where the docs say: the dead worker as `error` (WorkerDied), the memory
  exhaustion as `denied` (MemoryError, rule limits.memory_mb), audited and counted in
  `pluginops_policy_denials_total`, the slow plugin as `success`, the update and the rollback as
  committed transactions, and the plugin's traffic answered throughout;
- the server's memory is flat after warm-up: its resident memory over the last fifth of the
  run within 10% (and 16 MB) of the second fifth.

    .venv/bin/python bench/soak_bench.py [--seconds 600] [--clients 8]
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

from bench.serving import PLUGINOPS, pluginops, publish, stop, workspace  # noqa: E402
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


def resident(text: str) -> float:
    return next(float(line.split()[1]) for line in text.splitlines()
                if line.startswith("process_resident_memory_bytes "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--clients", type=int, default=8)
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
                                       str(home)], stdout=log, stderr=log)
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

            threads = [threading.Thread(target=client, args=(n,)) for n in range(options.clients)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            memory: list[tuple[float, float]] = []
            operations: dict[str, int] = {}
            admin = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            while (elapsed := time.monotonic() - started) < options.seconds:
                memory.append((elapsed, resident(scrape(port))))
                if "update" not in operations and elapsed > options.seconds * 0.4:
                    operations["update"] = call(admin, "POST", f"/v1/plugins/{VERSIONED}/update",
                                                token)[0]
                if "rollback" not in operations and elapsed > options.seconds * 0.6:
                    operations["rollback"] = call(admin, "POST",
                                                  f"/v1/plugins/{VERSIONED}/rollback", token)[0]
                time.sleep(min(5.0, options.seconds / 20))
            halt.set()
            for thread in threads:
                thread.join()
            took = time.monotonic() - started
            after = scrape(port)
            counted = executions(after) - before
            denials = memory_denials(after) - denials_before
            return summary(tally, counted, denials, memory, operations, took, options.seconds)
        finally:
            if server is not None:
                stop(server)


def summary(tally: Tally, counted: Counter[tuple[str, str]], denials: float,
            memory: list[tuple[float, float]], operations: dict[str, int], took: float,
            seconds: float) -> int:
    answered = sum(tally.statuses.values())
    print(f"{answered} requests in {took:.0f} s ({answered / took:.0f}/s), statuses "
          f"{dict(sorted(tally.statuses.items()))}")
    checks: list[tuple[str, bool]] = []
    received = +tally.outcomes
    checks.append(("every execution counted once (counter == client tally per plugin and "
                   "outcome)", +counted == received))
    if +counted != received:
        print(f"  counter {dict(+counted)}\n  clients {dict(received)}")
    checks.append(("dead workers answered as error WorkerDied",
                   tally.errors[("crasher", "WorkerDied")] == tally.outcomes[("crasher",
                                                                              "error")] > 0))
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
