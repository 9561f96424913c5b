"""The Prometheus HTTP API's instant queries and short range queries (also VictoriaMetrics,
Thanos and Mimir): a timeout per request, retries with exponential backoff on connection errors,
429 and 5xx, an optional Authorization header, extra headers and TLS. Light (no numpy or
pandas): the fleet coordinator's gates and the SLO trends use it; `collector/prometheus.py` adds
chunked range queries into arrays and collection for the evaluator."""

from __future__ import annotations

import json
import random
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.codes import Code
from contracts.errors import PluginopsError

RETRYABLE = {429, 500, 502, 503, 504}


class RequestCount:
    """Requests made to any Prometheus by this process (the evaluator exports it)."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def value(self) -> int:
        return self._count


REQUESTS = RequestCount()


@dataclass
class QueryApi:
    url: str
    timeout_s: float = 30.0
    retries: int = 4
    backoff_s: float = 0.5
    authorization: str | None = None
    # extra request headers, e.g. X-Scope-OrgID for Mimir, Cortex or a VictoriaMetrics tenant
    headers: dict[str, str] = field(default_factory=dict)
    # TLS: a private CA to trust, and a client certificate for stores that ask for one (mTLS)
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    requests: int = 0
    _tls: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    def tls(self) -> ssl.SSLContext:
        """The TLS settings, made once; a missing or unreadable file is refused at once."""
        if self._tls is None:
            try:
                context = ssl.create_default_context(cafile=self.ca_file)
                if self.client_cert:
                    context.load_cert_chain(self.client_cert, self.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise PluginopsError(
                    Code.PROMETHEUS_TLS_FAILED, f"cannot set up TLS: {exc}",
                    where="--ca-file/--client-cert/--client-key",
                    next_step="pass readable PEM files: the CA that signed the store's "
                              "certificate, and your certificate with its key") from None
            self._tls = context
        return self._tls

    def _get(self, path: str, params: dict[str, str]) -> Any:
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(f"{self.url.rstrip('/')}{path}?{query}")
        if self.authorization:
            request.add_header("Authorization", self.authorization)
        for name, value in self.headers.items():
            request.add_header(name, value)
        context = self.tls() if self.url.startswith("https:") else None
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1) * (1 + random.random() / 4))
            self.requests += 1
            REQUESTS.add()
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s,
                                            context=context) as response:
                    body = json.loads(response.read())
                return body["data"]
            except urllib.error.HTTPError as exc:
                detail = _error_text(exc)
                if exc.code not in RETRYABLE:
                    raise PluginopsError(
                        Code.PROMETHEUS_QUERY_FAILED,
                        f"HTTP {exc.code} for {params.get('query')!r}: {detail}", where=self.url,
                        next_step="check the query, the URL and the Authorization header"
                    ) from None
                last = f"HTTP {exc.code}: {detail}"
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, ssl.SSLCertVerificationError):  # retrying will not help
                    raise PluginopsError(
                        Code.PROMETHEUS_TLS_FAILED, f"{self.url}: {reason.verify_message}",
                        where=self.url, next_step="pass --ca-file with the CA that signed the "
                        "store's certificate (and check the host name in the URL)") from None
                last = str(reason)
            except (ValueError, KeyError) as exc:
                last = f"not a Prometheus API answer: {exc}"
        raise PluginopsError(Code.PROMETHEUS_UNREACHABLE, f"{self.url}: {last} (after "
                             f"{self.retries + 1} attempts)", where=self.url,
                             next_step="check that Prometheus is up and reachable, or raise "
                                       "--timeout")

    def query(self, expr: str, at: float) -> list[tuple[dict[str, str], float]]:
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]


    def range_points(self, expr: str, start: float, end: float, step: float
                     ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """A range query in one request (a few hundred steps at most), as plain lists."""
        data = self._get("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}",
                                                 "end": f"{end:.3f}", "step": f"{step:g}"})
        return [(item["metric"], [(float(t), float(v)) for t, v in item["values"]])
                for item in data["result"]]


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", exc.reason))
    except (ValueError, OSError):
        return str(exc.reason)
