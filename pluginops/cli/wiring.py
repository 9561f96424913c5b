"""The real collaborators the CLI injects: a metrics registry and a tracer provider."""

from __future__ import annotations

import os
from functools import lru_cache

from opentelemetry import trace
from prometheus_client import CollectorRegistry

from runtime.telemetry.metrics import Metrics
from runtime.telemetry.tracing import make_tracer_provider

TRACER_NAME = "pluginops"


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@lru_cache(maxsize=1)
def tracer_provider() -> trace.TracerProvider:
    return make_tracer_provider(os.environ)


def tracer() -> trace.Tracer:
    return tracer_provider().get_tracer(TRACER_NAME)


def shutdown() -> None:
    """Flush spans before the process ends."""
    provider = tracer_provider()
    stop = getattr(provider, "shutdown", None)
    if stop is not None:
        stop()
