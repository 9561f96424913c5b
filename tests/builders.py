"""Builders for shared test inputs: `a_manifest(type="agent")`, `a_plugin_dir(...)`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runtime.host import HostDescription
from runtime.registry.index import IndexEntry, IndexFile, Registry

ENTRY_MODULE = 'def run(inputs, ctx):\n    return {"ok": True}\n'


def a_manifest(**overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": "acme-http",
        "version": "1.4.0",
        "type": "node",
        "host": "^2.3.0",
        "api": "4.0",
        "entrypoint": "main:run",
    }
    manifest.update(overrides)
    return {k: v for k, v in manifest.items() if v is not None}


def a_host(version: str = "2.8.0", api: tuple[str, ...] = ("3.2", "4.1"),
           capabilities: tuple[str, ...] = ("http", "llm", "tools", "log")) -> HostDescription:
    return HostDescription(version=version, api=list(api), capabilities=list(capabilities))


def a_plugin_dir(root: Path, module: str = ENTRY_MODULE, **overrides: Any) -> Path:
    manifest = a_manifest(**overrides)
    folder = root / f"{manifest['name']}-{manifest['version']}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.json").write_text(json.dumps(manifest, indent=2))
    (folder / "main.py").write_text(module)
    return folder


def a_registry(*manifests: dict[str, Any]) -> Registry:
    """An in-memory registry index holding these manifests (artifacts are not needed to
    resolve)."""
    plugins: dict[str, dict[str, IndexEntry]] = {}
    for manifest in manifests:
        plugins.setdefault(manifest["name"], {})[manifest["version"]] = IndexEntry(
            artifact=f"artifacts/{manifest['name']}-{manifest['version']}.tar.gz", size=0,
            sha256="0" * 64, published_at="2026-11-25T00:00:00Z", manifest=manifest)
    return Registry(Path("/nonexistent"), IndexFile(plugins=plugins))


def dep(name: str, version: str, **deps: str) -> dict[str, Any]:
    """A registry manifest of `name@version` depending on `deps` (underscores read as dashes)."""
    return a_manifest(name=name, version=version,
                      dependencies={k.replace("_", "-"): v for k, v in deps.items()})


def a_home_with_policy(home: Path, **policy: Any) -> Path:
    """A state folder whose org policy (`policy.yaml`) sets these fields, e.g.
    `a_home_with_policy(tmp_path / "home", release_gate="advisory")`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "policy.yaml").write_text(json.dumps({"version": 1, **policy}))
    return home
