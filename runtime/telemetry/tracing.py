"""Tracer provider set-up that honours the standard OpenTelemetry environment variables.

Spans are exported by OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces variant) is set
or `OTEL_TRACES_EXPORTER=otlp`; `console` prints them; otherwise the provider records nothing and
costs nothing. `OTEL_SDK_DISABLED=true` turns tracing off. Service name and resource attributes
come from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` as the SDK reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
DEFAULT_SERVICE_NAME = "pluginops"

log = logging.getLogger(__name__)


def exporter_choice(env: Mapping[str, str]) -> str:
    """`none`, `otlp` or `console`, from the environment."""
    if env.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return "none"
    chosen = env.get(OTEL_TRACES_EXPORTER, "").strip().lower()
    if chosen in ("otlp", "console", "none"):
        return chosen
    if env.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or env.get(OTEL_EXPORTER_OTLP_ENDPOINT):
        return "otlp"
    return "none"


def make_tracer_provider(env: Mapping[str, str],
                         exporter: SpanExporter | None = None) -> trace.TracerProvider:
    """A provider for this process. Pass `exporter` (e.g. an in-memory one) in tests."""
    choice = "given" if exporter is not None else exporter_choice(env)
    if choice == "none":
        return trace.NoOpTracerProvider()
    attributes = {} if env.get(OTEL_SERVICE_NAME) else {SERVICE_NAME: DEFAULT_SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif choice == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:  # telemetry never takes the host down
            log.warning("OTLP exporter not installed; traces are dropped")
            return trace.NoOpTracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider
