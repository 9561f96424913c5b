"""The runtime's HTTP API (Flask): JSON endpoints with the same structured errors as the CLI."""
