"""The project's version: the package metadata, the CLI's `--version` and the API's OpenAPI
document all read it here."""

__version__ = "0.1.0"
