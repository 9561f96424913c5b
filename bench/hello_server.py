"""The serving benchmark's baseline: a hello-world Flask app on the server `pluginops serve` runs
on (`runtime.api.server.serve`: the same limits, threads and processes, connections shared
among processes the same way), so that the ratio measures the execution, not the server.

    .venv/bin/python bench/hello_server.py --port P [--threads 16] [--processes 1]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask, Response, jsonify  # noqa: E402

from runtime.api import prefork  # noqa: E402
from runtime.api.balance import ConnectionShare  # noqa: E402
from runtime.api.server import Limits, serve  # noqa: E402

SHARED_ENV = "HELLO_SHARED"  # the supervisor's folder, in a serving process


def app() -> Flask:
    hello = Flask("hello")

    @hello.post("/hello")
    def answer() -> Response:
        return jsonify({"outcome": "success", "output": {"text": "hi"}})

    return hello


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=Limits.threads)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--listen-fd", type=int)
    parser.add_argument("--index", type=int, default=0)
    options = parser.parse_args()
    limits = Limits(threads=options.threads)
    if options.listen_fd is not None:  # one of several serving processes
        share = ConnectionShare(prefork.connections_file(Path(os.environ[SHARED_ENV])),
                                options.index)
        serve(app(), "", 0, limits, lambda line: None,
              listening=socket.socket(fileno=options.listen_fd), share=share)
    elif options.processes == 1:
        serve(app(), "127.0.0.1", options.port, limits, lambda line: None)
    else:
        listening = prefork.listening_socket("127.0.0.1", options.port)
        with tempfile.TemporaryDirectory(prefix="hello-") as shared:
            prefork.Supervisor(
                command=lambda index: [sys.executable, __file__, "--port", str(options.port),
                                       "--threads", str(options.threads), "--listen-fd",
                                       str(listening.fileno()), "--index", str(index)],
                count=options.processes, listening=listening,
                env={**os.environ, SHARED_ENV: shared}, shared=Path(shared),
                log=lambda line: None, grace_s=limits.grace_s).run()


if __name__ == "__main__":
    main()
