"""Publishing a plugin folder into a directory registry.

Preflight first (an incompatible plugin is refused), then a deterministic pack, hash and
signature; the artifact and the index are written atomically under the registry's lock. A version
that is already published may be published again only with identical bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.codes import Code
from contracts.errors import OperationFailed
from contracts.files import atomic_write_bytes, exclusive_lock
from runtime.host import HostDescription
from runtime.manifest.read import parse_json, read_manifest_bytes
from runtime.preflight.findings import ManifestResult
from runtime.preflight.run import PreflightContext, check_path
from runtime.registry.index import INDEX_FILE, IndexEntry, Registry, load_index_file
from runtime.registry.pack import pack
from runtime.registry.signing import key_id, sign

LOCK_FILE = ".lock"


class PreflightRefused(OperationFailed):
    def __init__(self, result: ManifestResult) -> None:
        errors = [f for f in result.findings if f.severity.value == "error"]
        first = errors[0] if errors else None
        super().__init__(
            Code.PUBLISH_PREFLIGHT_FAILED,
            f"preflight failed with {len(errors)} error(s)"
            + (f"; first: {first.code} at {first.field or '/'}: {first.message}" if first else ""),
            where=result.manifest,
            next_step=first.next_step if first else "run `pluginops preflight` on the plugin")
        self.result = result


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    entry: IndexEntry
    already_published: bool


def artifact_relpath(name: str, version: str) -> str:
    return f"artifacts/{name}/{name}-{version}.tar.gz"


def publish(plugin_dir: Path, registry_dir: Path, host: HostDescription,
            key: Ed25519PrivateKey | None, now: datetime | None = None) -> Published:
    registry_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(registry_dir / LOCK_FILE):
        index = load_index_file(registry_dir)
        result = check_path(plugin_dir, PreflightContext(host, Registry(registry_dir, index)))
        if not result.ok:
            raise PreflightRefused(result)
        raw = read_manifest_bytes(plugin_dir)
        assert isinstance(raw, bytes)
        manifest = parse_json(raw)
        assert isinstance(manifest, dict) and result.plugin and result.version
        name, version = result.plugin, result.version
        data = pack(plugin_dir)
        digest = hashlib.sha256(data).hexdigest()
        existing = index.plugins.get(name, {}).get(version)
        if existing is not None:
            if existing.sha256 == digest:
                return Published(name, version, existing, already_published=True)
            raise OperationFailed(
                Code.PUBLISH_VERSION_EXISTS,
                f"{name} {version} is already published with different content "
                f"(sha256 {existing.sha256[:12]}…, new {digest[:12]}…)",
                where=str(registry_dir / INDEX_FILE),
                next_step=f"bump the version in {plugin_dir}/plugin.json; published versions "
                          "are immutable")
        entry = IndexEntry(
            artifact=artifact_relpath(name, version), size=len(data), sha256=digest,
            signature=sign(key, name, version, digest) if key else None,
            key_id=key_id(key.public_key()) if key else None,
            published_at=(now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            manifest=manifest)
        atomic_write_bytes(registry_dir / entry.artifact, data)
        index.plugins.setdefault(name, {})[version] = entry
        index.plugins = {n: dict(sorted(v.items())) for n, v in sorted(index.plugins.items())}
        atomic_write_bytes(registry_dir / INDEX_FILE,
                           (json.dumps(index.model_dump(), indent=2, sort_keys=True) + "\n")
                           .encode())
        return Published(name, version, entry, already_published=False)
