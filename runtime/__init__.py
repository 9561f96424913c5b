"""The Pluginops runtime: manifests, registry, preflight, installs, sandbox, executor, telemetry.

Importing it stays cheap: no pandas, no scipy, no Flask until a module that needs them loads.
"""
