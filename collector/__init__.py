"""Gets telemetry into DataFrames: Prometheus range queries, OpenMetrics files, a Parquet cache.

Its contract with the other parts is in docs/architecture.md ("Telemetry sources").
"""
