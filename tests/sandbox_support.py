"""Loopback servers the sandbox tests point the egress broker, the model API and the search tool
at, so the real broker code runs end to end without leaving this machine."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


def _handler(recorder: Recorder, respond: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            record = {"method": self.command, "path": self.path,
                      "host": self.headers.get("Host"), "body": body.decode()}
            recorder.requests.append(record)
            status, payload = respond(record)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def serving(respond: Any) -> Iterator[tuple[str, Recorder]]:
    """An HTTP server on 127.0.0.1 answering `respond(request) -> (status, json)`."""
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder, respond))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


def model_reply(record: dict[str, Any]) -> tuple[int, Any]:
    """A deterministic chat-completions back-end: plans one calculation, then answers."""
    prompt = json.loads(record["body"])["messages"][0]["content"]
    if "Reply 'search:" in prompt:
        text = "answer: 42" if "calc(" in prompt else "calc: 6*7"
    else:
        text = "A short summary."
    return 200, {"choices": [{"message": {"content": text}}],
                 "usage": {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": 5}}


class Listener:
    """A TCP listener that counts connections: proof that none arrived."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.accept()[0].close()
                self.accepted += 1
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self.thread.join()
        self.sock.close()
