"""HTTP server spans and trace context for the JSON API and the UI.

OpenTelemetry's Flask instrumentation gives every request a SERVER span named by its route
(`POST /v1/plugins/<name>/execute`) with method, route and status (error status on 5xx),
continuing the caller's trace when the request carries a W3C `traceparent`; work done inside the
request (an execution's `pluginops.execute` span, an install's transaction) becomes its child.
The answer carries the server span's own `traceparent`, so a caller can find the trace it started
or joined. Probes and `/metrics` are not traced: they would drown the rest."""

from __future__ import annotations

from flask import Flask, Response
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

UNTRACED = "healthz,readyz,metrics"  # the instrumentation's excluded_urls (regexes, commas)
PROPAGATOR = TraceContextTextMapPropagator()


def _return_trace_context(response: Response) -> Response:
    if trace.get_current_span().get_span_context().is_valid:
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier)
        response.headers.update(carrier)
    return response


def traced(app: Flask, provider: trace.TracerProvider | None) -> None:
    FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]
        app, tracer_provider=provider, excluded_urls=UNTRACED, enable_commenter=False)
    app.after_request(_return_trace_context)
