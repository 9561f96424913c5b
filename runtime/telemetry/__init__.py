"""Telemetry: Prometheus metrics built from the catalogue, and OpenTelemetry tracing set-up."""
