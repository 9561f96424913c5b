"""A webhook receiver that records what Alertmanager delivers, per receiver path."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    receiver: str
    status: str
    labels: dict[str, str]
    received_at: float


@dataclass
class Sink:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, receiver: str | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if receiver is None or d.receiver == receiver]


@contextmanager
def webhook_sink(host: str = "127.0.0.1", port: int = 0,
                 on_delivery: Callable[[Delivery], None] | None = None) -> Iterator[Sink]:
    sink = Sink("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body: Any = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            now = time.time()
            with sink.lock:
                for alert in body.get("alerts", []):
                    delivery = Delivery(self.path.strip("/"), str(alert.get("status")),
                                        dict(alert.get("labels", {})), now)
                    sink.deliveries.append(delivery)
                    if on_delivery:
                        on_delivery(delivery)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer((host, port), Handler)
    sink.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
