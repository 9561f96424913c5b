"""Scopes: what an elevated request asks for and an approval grants, written `kind:target`
(`network:api.example.com`, `process:spawn`, `budget:tokens_per_execution`)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from runtime.manifest.model import Manifest
from runtime.preflight.permission_checks import beyond_profile
from runtime.profiles import PROFILES


def scope(kind: str, target: str) -> str:
    return f"{kind}:{target}"


def split(text: str) -> tuple[str, str]:
    kind, _, target = text.partition(":")
    return kind, target


def elevated_scopes(manifest: Manifest) -> list[str]:
    """Scopes beyond the type's profile that the manifest requests (and so need approval)."""
    requested = {scope(r.kind, r.target) for r in manifest.sandbox.elevated}
    needed = [scope(b.kind, b.target) for b in beyond_profile(manifest, PROFILES[manifest.type])]
    return sorted(s for s in needed if s in requested)


def matches(pattern: str, text: str) -> bool:
    """Policy patterns are shell-style: `network:*.example.com`, `tool:*`."""
    return fnmatchcase(text, pattern)
