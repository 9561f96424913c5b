"""Gets telemetry into DataFrames: Prometheus range queries, OpenMetrics files, a Parquet cache.

Empty until its issue lands; DESIGN.md ("Telemetry sources") holds its contract.
"""
