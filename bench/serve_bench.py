"""`POST /v1/plugins/<name>/execute` of a trivial node plugin on a real `pluginops serve`, beside a
hello-world Flask app on the same WSGI server (`runtime.api.server.serve`, same threads and
limits), measured in the same run.

The load generator is ApacheBench (`ab`, C, one process, keep-alive), far lighter than either
server: each level sends an exact number of requests (sized by a short probe to last about
`--seconds`), so every request it sent completed and the executions counter on `/metrics` can be
held to the number of 200s exactly. For 8, 16, 32 and 64 concurrent keep-alive clients it prints
requests/s, p50 and p99 (ab reports whole milliseconds), non-2xx answers and the ratio to the
hello-world. Goal (issue 18): at least 1,000 executions/s with p99 at most 20 ms and no 5xx.

    .venv/bin/python bench/serve_bench.py [--seconds 5] [--levels 8,16,32,64]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import PLUGINOPS, pluginops, publish, stop, wait_ready, workspace  # noqa: E402
from contracts.catalogue import PLUGIN_EXECUTIONS  # noqa: E402
from stack.processes import free_port  # noqa: E402

PLUGIN = "noop"  # returns its input: the cheapest execution there is
BODY = {"inputs": {"text": "hi"}}
HELLO = """
import sys
from flask import Flask, jsonify
from runtime.api.server import Limits, serve
app = Flask("hello")
@app.post("/hello")
def hello():
    return jsonify({"outcome": "success", "output": {"text": "hi"}})
serve(app, "127.0.0.1", int(sys.argv[1]), Limits(), lambda line: None)
"""
GOAL_PER_S, GOAL_P99_MS = 1000.0, 20.0


@dataclass(frozen=True)
class Run:
    sent: int
    ok: int
    non_2xx: int
    per_s: float
    p50_ms: float
    p99_ms: float


def ab(url: str, requests: int, clients: int, body: Path, token: str) -> Run:
    args = ["ab", "-q", "-k", "-n", str(requests), "-c", str(clients), "-p", str(body),
            "-T", "application/json", "-s", "60"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=600)
    out = done.stdout
    if done.returncode != 0 or "Complete requests" not in out:
        raise SystemExit(f"ab failed: {done.stderr or out}")

    def number(pattern: str, default: str = "0") -> float:
        found = re.search(pattern, out)
        return float(found.group(1) if found else default)

    complete = int(number(r"Complete requests:\s+(\d+)"))
    non_2xx = int(number(r"Non-2xx responses:\s+(\d+)"))
    # ab counts a body of another length than the first as "failed"; only the others are
    broken = sum(int(number(rf"{kind}: (\d+)")) for kind in ("Connect", "Receive",
                                                              "Exceptions"))
    return Run(complete, complete - non_2xx - broken, non_2xx,
               number(r"Requests per second:\s+([\d.]+)"), number(r"\s50%\s+(\d+)"),
               number(r"\s99%\s+(\d+)"))


def executions(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=30) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(PLUGIN_EXECUTIONS.name + "{") and f'plugin="{PLUGIN}"' in line \
                and 'outcome="success"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def sized(url: str, clients: int, body: Path, token: str, seconds: float) -> int:
    probe = ab(url, 200, clients, body, token)
    return max(200, min(50_000, int(probe.per_s * seconds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--levels", default="8,16,32,64")
    options = parser.parse_args()
    if shutil.which("ab") is None:
        raise SystemExit("ab is missing: `make bench` installs Debian's apache2-utils")
    levels = [int(x) for x in options.levels.split(",")]
    with workspace("pluginops-serve-bench-") as work:
        processes: list[subprocess.Popen[bytes]] = []
        try:
            home = work / "home"
            pluginops(home, "keygen")
            publish(home, work / "src", PLUGIN, "1.0.0",
                    "def run(inputs, ctx):\n    return inputs\n")
            pluginops(home, "install", PLUGIN)
            token = pluginops(home, "token", "create", "--user", "bench", "--role",
                              "operator").strip()
            body = work / "body.json"
            body.write_text(json.dumps(BODY))
            serve_port, hello_port = free_port(), free_port()
            log = (work / "serve.log").open("wb")
            processes.append(subprocess.Popen([PLUGINOPS, "serve", "--port", str(serve_port),
                                               "--home", str(home)], stdout=log, stderr=log))
            processes.append(subprocess.Popen([sys.executable, "-c", HELLO, str(hello_port)],
                                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                                              stdout=log, stderr=log))
            serve_url = f"http://127.0.0.1:{serve_port}"
            hello_url = f"http://127.0.0.1:{hello_port}/hello"
            wait_ready(f"{serve_url}/readyz", processes[0])
            execute_url = f"{serve_url}/v1/plugins/{PLUGIN}/execute"
            ab(execute_url, 500, 16, body, token)  # warm: workers started, code paths hot
            ab(hello_url, 500, 16, body, "")

            print(f"{'clients':>7} {'target':<12} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
                  f"{'non-2xx':>8} {'vs hello':>9}")
            worst_counter_gap = 0.0
            met = True
            for clients in levels:
                hello = ab(hello_url, sized(hello_url, clients, body, "", options.seconds),
                           clients, body, "")
                requests = sized(execute_url, clients, body, token, options.seconds)
                before = executions(f"{serve_url}/metrics")
                run = ab(execute_url, requests, clients, body, token)
                counted = executions(f"{serve_url}/metrics") - before
                worst_counter_gap = max(worst_counter_gap, abs(counted - run.ok))
                for name, row in (("hello-world", hello), ("execute", run)):
                    ratio = row.per_s / hello.per_s if hello.per_s else 0.0
                    print(f"{clients:>7} {name:<12} {row.per_s:>9.1f} {row.p50_ms:>7.0f} "
                          f"{row.p99_ms:>7.0f} {row.non_2xx:>8} {ratio:>8.2f}x")
                met &= (run.per_s >= GOAL_PER_S and run.p99_ms <= GOAL_P99_MS
                        and run.non_2xx == 0 and run.ok == run.sent)
            print(f"executions counter minus 200s, worst level: {worst_counter_gap:.0f}")
            print(f"goal (>= {GOAL_PER_S:.0f}/s, p99 <= {GOAL_P99_MS:.0f} ms, no 5xx) at every "
                  f"level: {'met' if met else 'NOT met'}")
        finally:
            for process in processes:
                stop(process, grace_s=60)


if __name__ == "__main__":
    main()
