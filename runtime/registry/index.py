"""The registry index: every published version of every plugin, with its artifact's path, size,
sha256, Ed25519 signature and the manifest it was published with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.manifest.model import Manifest
from runtime.registry.http import HttpSource
from runtime.semver import Version, parse_version

INDEX_FILE = "index.json"
INDEX_FORMAT = 1


class IndexEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    artifact: str
    size: int
    sha256: str
    signature: str | None = None
    key_id: str | None = None
    published_at: str
    manifest: dict[str, Any]


class IndexFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    plugins: dict[str, dict[str, IndexEntry]] = {}


@dataclass(frozen=True)
class Published:
    """One published version, with its parsed manifest."""

    name: str
    version: Version
    manifest: Manifest
    entry: IndexEntry


@dataclass
class Registry:
    """The index in memory, with versions by plugin newest first. `memo` holds what readers
    derive from it (e.g. the resolver's host-compatible candidates)."""

    root: Path  # the folder; for an HTTP registry, where its index is cached
    index: IndexFile
    remote: HttpSource | None = None  # where artifacts come from when not from `root`
    _by_name: dict[str, list[Published]] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, versions in self.index.plugins.items():
            items = [Published(name, parse_version(v), Manifest.model_validate(e.manifest), e)
                     for v, e in versions.items()]
            self._by_name[name] = sorted(items, key=lambda p: p.version, reverse=True)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def versions(self, name: str) -> list[Published]:
        return self._by_name.get(name, [])

    def get(self, name: str, version: str) -> Published | None:
        wanted = parse_version(version)
        return next((p for p in self.versions(name) if p.version == wanted), None)


def load_index_file(root: Path) -> IndexFile:
    path = root / INDEX_FILE
    if not root.is_dir():
        raise PluginopsError(Code.REGISTRY_NOT_FOUND, "no registry folder here", where=str(root),
                             next_step="pass the folder `pluginops publish` writes to")
    if not path.exists():
        return IndexFile()
    try:
        return IndexFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise PluginopsError(
            Code.REGISTRY_INDEX_INVALID, f"not a registry index: {str(exc).splitlines()[0][:200]}",
            where=str(path), next_step="restore index.json from the registry's history or backup",
        ) from None


def load_registry(root: Path) -> Registry:
    index = load_index_file(root)
    try:
        return Registry(root, index)
    except (ValidationError, ValueError) as exc:
        raise PluginopsError(
            Code.REGISTRY_INDEX_INVALID, f"an indexed manifest is invalid: {str(exc)[:200]}",
            where=str(root / INDEX_FILE), next_step="republish or remove the broken entry",
        ) from None
