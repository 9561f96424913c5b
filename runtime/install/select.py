"""Which published version an install or update means: `NAME`, `NAME@1.4.0` or `NAME@^1.2`."""

from __future__ import annotations

import re

from contracts.codes import Code
from contracts.errors import OperationFailed, PluginopsError
from runtime.host import HostDescription
from runtime.manifest.model import NAME_PATTERN
from runtime.registry.index import Published, Registry
from runtime.resolver import runs_on
from runtime.semver import InvalidRange, parse_range, satisfies


def check_name(name: str, where: str = "") -> None:
    """A plugin name as manifests spell them (the whole string: no trailing newline)."""
    if not re.fullmatch(NAME_PATTERN, name) or len(name) > 64:
        raise PluginopsError(Code.PLUGIN_NAME_INVALID, f"{name[:80]!r} is not a plugin name",
                             where=where or name[:80],
                             next_step="use NAME or NAME@VERSION_OR_RANGE")


def parse_spec(text: str) -> tuple[str, str | None]:
    name, _, spec = text.partition("@")
    check_name(name, text[:80])
    if spec:
        try:
            parse_range(spec)
        except InvalidRange:
            raise PluginopsError(Code.VERSION_SPEC_INVALID, f"{spec!r} is not a version or range",
                                 where=text, next_step="e.g. acme-http@1.4.0 or acme-http@^1.4"
                                 ) from None
    return name, spec or None


def select(registry: Registry, host: HostDescription, name: str, spec: str | None) -> Published:
    published = registry.versions(name)
    if not published:
        raise OperationFailed(Code.PLUGIN_NOT_IN_REGISTRY, f"{name} is not in the registry",
                              where=str(registry.root),
                              next_step="check the name, or publish it first", http_status=404)
    in_range = [p for p in published if spec is None or satisfies(p.version, spec)]
    runnable = [p for p in in_range if runs_on(p.manifest, host)]
    if runnable:
        return runnable[0]
    listed = ", ".join(str(p.version) for p in published[:10])
    if in_range:
        raise OperationFailed(
            Code.NO_COMPATIBLE_VERSION,
            f"{len(in_range)} version(s) of {name} match {spec or 'any'}, but none runs on host "
            f"{host.version} (API {', '.join(host.api)})", where=name,
            next_step=f"pick a version built for this host (published: {listed})")
    raise OperationFailed(Code.NO_MATCHING_VERSION, f"no version of {name} matches {spec}",
                          where=name, next_step=f"published: {listed}", http_status=404)
