"""Shared home of Pluginops: the CLI, the catalogue of names, and the error base.

Kept thin so that `runtime`, `collector`, `evaluator`, `alerts` and `dashboards` can all import
it without importing each other.
"""

__version__ = "0.1.0"
