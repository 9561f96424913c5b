"""Publishing order for several plugin folders: dependencies before their dependents."""

from __future__ import annotations

from pathlib import Path

from runtime.manifest.read import parse_json, read_manifest_bytes


def _identity(folder: Path) -> tuple[str | None, set[str]]:
    raw = read_manifest_bytes(folder)
    data = parse_json(raw) if isinstance(raw, bytes) else None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None, set()
    deps = data.get("dependencies")
    return data["name"], set(deps) if isinstance(deps, dict) else set()


def publish_order(folders: list[Path]) -> list[Path]:
    """A stable topological order; folders in a cycle or unreadable keep their given order
    (preflight will then say what is wrong with them)."""
    info = [(folder, *_identity(folder)) for folder in folders]
    names = {name for _, name, _ in info if name}
    done: set[str] = set()
    ordered: list[Path] = []
    pending = list(info)
    while pending:
        ready = [item for item in pending
                 if not (item[2] & names) - done - ({item[1]} if item[1] else set())]
        if not ready:
            ready = pending[:1]
        for item in ready:
            pending.remove(item)
            ordered.append(item[0])
            if item[1]:
                done.add(item[1])
    return ordered
