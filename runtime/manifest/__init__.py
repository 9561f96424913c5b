"""The `plugin.json` manifest: its model, its JSON Schema, and reading it safely from disk."""

from runtime.manifest.model import MANIFEST_VERSIONS, Manifest

__all__ = ["MANIFEST_VERSIONS", "Manifest"]
