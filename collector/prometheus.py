"""The Prometheus HTTP API (also Thanos and Mimir): range queries split under the server's
11,000-points-per-series limit, a timeout per request, retries with exponential backoff on
connection errors, 429 and 5xx, and an optional Authorization header."""

from __future__ import annotations

import json
import math
import random
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collector import schema as s
from collector.assemble import Assembler
from contracts.catalogue import (
    PLUGIN_EXECUTION_COST,
    PLUGIN_EXECUTION_DURATION,
    PLUGIN_EXECUTIONS,
    PLUGIN_TOKENS,
)
from contracts.codes import Code
from contracts.errors import PluginopsError

MAX_POINTS = 11_000  # Prometheus refuses a range query resolving more points per series
CHUNK_POINTS = 10_000
RETRYABLE = {429, 500, 502, 503, 504}

Series = tuple[dict[str, str], np.ndarray, np.ndarray]  # labels, timestamps (ms), values


def chunks(start: float, end: float, step: float, points: int = CHUNK_POINTS
           ) -> list[tuple[float, float]]:
    """[start, end] at `step` as consecutive sub-ranges of at most `points` points each, with no
    point in two sub-ranges."""
    if step <= 0 or end < start:
        raise PluginopsError(Code.RANGE_INVALID, f"range {start}..{end} step {step}",
                             where="--start/--end/--step",
                             next_step="give an end after the start and a positive step")
    total = math.floor((end - start) / step + 1e-9) + 1
    out = []
    for first in range(0, total, points):
        last = min(first + points, total) - 1
        out.append((start + first * step, start + last * step))
    return out


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
class PrometheusClient:
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

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        merged: dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]] = {}
        for lo, hi in chunks(start, end, step):
            data = self._get("/api/v1/query_range", {
                "query": expr, "start": f"{lo:.3f}", "end": f"{hi:.3f}", "step": f"{step:g}"})
            for item in data["result"]:
                key = tuple(sorted(item["metric"].items()))
                ts, vs = merged.setdefault(key, ([], []))
                for t, v in item["values"]:
                    ts.append(round(float(t) * 1000))
                    vs.append(float(v))
        return [(dict(k), np.asarray(ts, dtype="int64"), np.asarray(vs, dtype="float64"))
                for k, (ts, vs) in merged.items()]


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", exc.reason))
    except (ValueError, OSError):
        return str(exc.reason)


HIST = PLUGIN_EXECUTION_DURATION.name

# What the collector asks for: (query, the series name its results are filed under). Raw
# counters, every series apart (hosts, versions): never `sum by` before a rate, since a sum of
# counters of different hosts resets whenever one of them restarts and mixes scrape instants.
QUERIES: tuple[tuple[str, str], ...] = tuple((name, name) for name in (
    PLUGIN_EXECUTIONS.name, f"{HIST}_bucket", f"{HIST}_count", f"{HIST}_sum",
    PLUGIN_EXECUTION_COST.name, PLUGIN_TOKENS.name,
    *(s.OPERATION_METRIC_NAMES[metric] for metric in sorted(s.OPERATION_METRIC_NAMES))))


def collect(client: PrometheusClient, start: float, end: float, step: float,
            progress: Callable[[str], None] | None = None) -> s.Telemetry:
    """Every series the evaluator reads, sampled at `step` over [start, end]. The instants are
    multiples of `step` (as Grafana aligns them), so samples scraped on that grid come back with
    their own timestamps and values, and repeated collections line up."""
    start = math.ceil(start / step) * step
    end = math.floor(end / step) * step
    assembler = Assembler()
    for query, name in QUERIES:
        if progress:
            progress(name)
        for labels, ts, values in client.query_range(query, start, end, step):
            assembler.add(name, labels, ts, values)
    return assembler.telemetry()


HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_headers(lines: list[str], where: str) -> dict[str, str]:
    """`Name: value` lines (from --header, or the environment, one per line) as headers."""
    out: dict[str, str] = {}
    for line in (part.strip() for part in lines):
        if not line:
            continue
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not HEADER_NAME.match(name) or not value or "\n" in value or \
                "\r" in value or name.lower() == "authorization":
            raise PluginopsError(
                Code.HEADER_INVALID, f"{line[:100]!r} is not a `Name: value` header",
                where=where, next_step="e.g. --header 'X-Scope-OrgID: team-a' (the "
                "Authorization header has its own option, --authorization)")
        out[name] = value
    return out
