"""`POST /v1/plugins/<name>/execute` of a trivial node plugin on a real `pluginops serve`, beside a
hello-world Flask app on the same server (`bench/hello_server.py`: `runtime.api.server.serve`
with the same threads, processes and limits), measured in the same run.

The load generator is ApacheBench (`ab`, C, one process, keep-alive), far lighter than either
server: each run sends an exact number of requests (sized by a short probe to last about
`--seconds`), so every request it sent completed and the executions counter on `/metrics` can be
held to the number of 200s exactly. For 8, 16, 32 and 64 concurrent keep-alive clients it prints
requests/s, p50 and p99 (ab reports whole milliseconds), non-2xx answers and the ratio to the
hello-world; then the goal's run (issue 19): `--sustain` seconds with `--sustain-clients`, at
least 1,000 executions/s with p99 at most 20 ms, no 5xx, at least 0.5x the hello-world.

    .venv/bin/python bench/serve_bench.py [--processes 3] [--threads 2] [--seconds 5]
                                          [--levels 8,16,32,64] [--sustain 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import (  # noqa: E402
    PLUGINOPS,
    Run,
    ab,
    pluginops,
    publish,
    stop,
    wait_ready,
    workspace,
)
from contracts.catalogue import PLUGIN_EXECUTIONS  # noqa: E402
from stack.processes import free_port  # noqa: E402

PLUGIN = "noop"  # returns its input: the cheapest execution there is
BODY = {"inputs": {"text": "hi"}}
GOAL_PER_S, GOAL_P99_MS, GOAL_VS_HELLO = 1000.0, 20.0, 0.5


def executions(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=30) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(PLUGIN_EXECUTIONS.name + "{") and f'plugin="{PLUGIN}"' in line \
                and 'outcome="success"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def sized(url: str, clients: int, body: Path, token: str, seconds: float, cap: int) -> int:
    probe = ab(url, 500, clients, body, token)
    return max(200, min(cap, int(probe.per_s * seconds)))


def level(execute_url: str, hello_url: str, metrics_url: str, clients: int, body: Path,
          token: str, seconds: float) -> tuple[Run, Run, float]:
    """The hello-world, then the executions, with `clients` for about `seconds` each; and the
    executions counter's increase minus the 200s."""
    cap = max(50_000, int(seconds * 3_000))
    hello = ab(hello_url, sized(hello_url, clients, body, "", seconds, cap), clients, body, "")
    requests = sized(execute_url, clients, body, token, seconds, cap)
    before = executions(metrics_url)
    run = ab(execute_url, requests, clients, body, token)
    return hello, run, executions(metrics_url) - before - run.ok


def row(clients: int, name: str, run: Run, hello: Run) -> str:
    ratio = run.per_s / hello.per_s if hello.per_s else 0.0
    return (f"{clients:>7} {name:<12} {run.per_s:>9.1f} {run.p50_ms:>7.0f} {run.p99_ms:>7.0f} "
            f"{run.non_2xx:>8} {ratio:>8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="each level's length")
    parser.add_argument("--levels", default="8,16,32,64")
    parser.add_argument("--processes", type=int, default=3,
                        help="serving processes (`serve --processes`), the hello-world's too")
    parser.add_argument("--threads", type=int, default=2, help="request threads per process")
    parser.add_argument("--sustain", type=float, default=60.0,
                        help="seconds of the goal's run (0: none)")
    parser.add_argument("--sustain-clients", type=int, default=8)
    options = parser.parse_args()
    if shutil.which("ab") is None:
        raise SystemExit("ab is missing: `make bench` installs Debian's apache2-utils")
    levels = [int(x) for x in options.levels.split(",")]
    server = ["--threads", str(options.threads), "--processes", str(options.processes)]
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
                                               "--home", str(home), *server],
                                              stdout=log, stderr=log))
            processes.append(subprocess.Popen([sys.executable, str(ROOT / "bench" /
                                                                   "hello_server.py"),
                                               "--port", str(hello_port), *server],
                                              stdout=log, stderr=log))
            serve_url = f"http://127.0.0.1:{serve_port}"
            hello_url = f"http://127.0.0.1:{hello_port}/hello"
            wait_ready(f"{serve_url}/readyz", processes[0])
            execute_url = f"{serve_url}/v1/plugins/{PLUGIN}/execute"
            metrics_url = f"{serve_url}/metrics"
            for _ in range(2):  # warm: every process's workers started, code paths hot
                ab(execute_url, 1000, 16, body, token)
                ab(hello_url, 1000, 16, body, "")

            print(f"load {os.getloadavg()[0]:.2f}; {options.processes} processes x "
                  f"{options.threads} threads, the hello-world on the same")
            print(f"{'clients':>7} {'target':<12} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
                  f"{'non-2xx':>8} {'vs hello':>9}")
            worst_gap = 0.0
            for clients in levels:
                hello, run, gap = level(execute_url, hello_url, metrics_url, clients, body,
                                        token, options.seconds)
                worst_gap = max(worst_gap, abs(gap))
                print(row(clients, "hello-world", hello, hello))
                print(row(clients, "execute", run, hello))
            met = True
            if options.sustain:
                hello, run, gap = level(execute_url, hello_url, metrics_url,
                                        options.sustain_clients, body, token, options.sustain)
                worst_gap = max(worst_gap, abs(gap))
                print(f"sustained {options.sustain:.0f} s with {options.sustain_clients} "
                      f"clients ({run.sent} executions):")
                print(row(options.sustain_clients, "hello-world", hello, hello))
                print(row(options.sustain_clients, "execute", run, hello))
                met = (run.per_s >= GOAL_PER_S and run.p99_ms <= GOAL_P99_MS
                       and run.non_2xx == 0 and run.ok == run.sent
                       and run.per_s >= GOAL_VS_HELLO * hello.per_s)
            print(f"executions counter minus 200s, worst run: {worst_gap:.0f}")
            print(f"goal (>= {GOAL_PER_S:.0f}/s for {options.sustain:.0f} s, p99 <= "
                  f"{GOAL_P99_MS:.0f} ms, no 5xx, >= {GOAL_VS_HELLO}x the hello-world): "
                  f"{'met' if met and worst_gap == 0 and options.sustain else 'NOT met'}")
        finally:
            for process in processes:
                stop(process, grace_s=60)


if __name__ == "__main__":
    main()
