"""Keeping a few old versions on disk for instant rollback, and no more."""

from __future__ import annotations

import shutil

from contracts.layout import Layout


def prune_versions(layout: Layout, name: str, active: str, keep: int) -> list[str]:
    """Remove all but the `keep` most recently placed versions; never the active one."""
    folder = layout.versions_dir(name)
    if not folder.is_dir():
        return []
    versions = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    versions.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    kept = [v for v in versions if v.name == active] + [v for v in versions if v.name != active]
    removed = []
    for path in kept[max(keep, 1):]:
        shutil.rmtree(path, ignore_errors=True)
        layout.tree_file(name, path.name).unlink(missing_ok=True)
        removed.append(path.name)
    return removed
