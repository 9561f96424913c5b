"""The work inside the phases, for the plugin itself and for each dependency it brings: fetch,
verify (hash, signature, manifest identity, preflight, safe extraction), place a version folder,
swap the pointer, check health. Every change to disk is journalled before it is made."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.codes import Code, Severity
from contracts.errors import OperationFailed
from contracts.files import atomic_write_bytes, fsync_dir, fsync_tree
from runtime.install import extract, fetch, pointer
from runtime.install.context import Tx
from runtime.install.journal import InstalledRow
from runtime.manifest.model import Manifest
from runtime.preflight.run import PreflightContext, check_manifest
from runtime.registry.index import Published
from runtime.registry.signing import verify as verify_signature


@dataclass
class Staged:
    """A verified, unpacked version waiting in staging."""

    published: Published
    folder: Path
    tree: dict[str, list[int | str]]

    @property
    def name(self) -> str:
        return self.published.name

    @property
    def version(self) -> str:
        return str(self.published.version)


@dataclass(frozen=True)
class Fetched:
    """A staged artifact and the sha256 of the bytes written to staging."""

    path: Path
    sha256: str


def fetch_artifact(tx: Tx, published: Published) -> Fetched:
    registry = tx.env.registry
    assert registry is not None
    dest = tx.staging / f"{published.name}-{published.version}.tar.gz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if registry.remote is not None:
        digest = fetch.download_remote(registry.remote, published.entry.artifact, dest,
                                       published.entry.size, tx.env.reporter.download)
    else:
        digest = fetch.download(registry.root / published.entry.artifact, dest,
                                published.entry.size, tx.env.reporter.download)
    tx.note(f"downloaded {published.entry.artifact} ({published.entry.size} bytes, "
            f"sha256 {digest})")
    return Fetched(dest, digest)


def _check_signature(tx: Tx, published: Published) -> None:
    entry = published.entry
    if entry.signature is None or entry.key_id is None:
        if tx.env.allow_unsigned:
            tx.note("unsigned artifact accepted: policy allows unsigned installs")
            return
        raise OperationFailed(Code.SIGNATURE_MISSING, f"{published.name} {published.version} is "
                              "not signed", where=entry.artifact,
                              next_step="publish it with a key (`pluginops keygen`, then "
                                        "`pluginops publish --key`), or allow unsigned installs")
    key = tx.env.trusted_keys.get(entry.key_id)
    if key is None:
        raise OperationFailed(Code.UNTRUSTED_KEY, f"signed by key {entry.key_id}, which is not "
                              "trusted here", where=entry.artifact,
                              next_step="add the publisher's signing.pub to <home>/keys/trusted/ "
                                        "or pass --trust FILE")
    if not verify_signature(key, entry.signature, published.name, str(published.version),
                            entry.sha256):
        raise OperationFailed(Code.SIGNATURE_INVALID, "the signature does not match the artifact",
                              where=entry.artifact,
                              next_step="do not install it; republish from a trusted source")


def verify_artifact(tx: Tx, published: Published, artifact: Fetched) -> Staged:
    digest = artifact.sha256  # of the staged bytes, hashed as they were written
    if digest != published.entry.sha256:
        raise OperationFailed(Code.SHA256_MISMATCH, f"sha256 {digest} differs from the index's "
                              f"{published.entry.sha256}", where=published.entry.artifact,
                              next_step="the artifact was altered or truncated; republish it")
    _check_signature(tx, published)
    tx.env.injector.point("mid:verify")
    folder = tx.staging / f"pkg-{published.name}-{published.version}"
    if folder.exists():
        shutil.rmtree(folder)
    with artifact.path.open("rb") as handle:
        tree = extract.extract(handle, folder)
    inside = _read_manifest(folder)
    if inside != published.entry.manifest:
        raise OperationFailed(Code.MANIFEST_MISMATCH, "the manifest inside the artifact differs "
                              "from the indexed one", where=f"{published.entry.artifact}:"
                              "plugin.json", next_step="republish the plugin")
    ctx = PreflightContext(tx.env.host, tx.env.registry)
    _, findings = check_manifest(inside, ctx, folder)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        first = errors[0]
        raise OperationFailed(Code.PREFLIGHT_FAILED, f"{first.code} at {first.field or '/'}: "
                              f"{first.message}", where=f"{published.name}@{published.version}",
                              next_step=first.next_step)
    signed = (f"signature {published.entry.key_id}" if published.entry.signature
              else "unsigned")
    tx.note(f"verified {published.name} {published.version}: sha256, {signed}, manifest, "
            f"preflight, {len(tree)} files")
    return Staged(published, folder, tree)


def _read_manifest(folder: Path) -> Any:
    try:
        return json.loads((folder / "plugin.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise OperationFailed(Code.MANIFEST_MISMATCH, "the artifact holds no readable plugin.json",
                              where=str(folder), next_step="republish the plugin") from None


def place(tx: Tx, staged: Staged) -> Path:
    """Move the staged folder to its immutable home, unless that version is already there."""
    layout = tx.env.layout
    target = layout.version_dir(staged.name, staged.version)
    if target.exists():
        problem = extract.check_tree(target, _read_tree(tx, staged.name, staged.version))
        if problem:
            raise OperationFailed(Code.VERSION_FOLDER_DAMAGED, f"{target}: {problem}",
                                  where=str(target), next_step=f"uninstall {staged.name} and "
                                                               "install it again")
        tx.note(f"{staged.name} {staged.version} is already on disk; reusing it")
        return target
    tx.event("created", {"path": str(target), "plugin": staged.name,
                         "version": staged.version})
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(layout.tree_file(staged.name, staged.version),
                       json.dumps(staged.tree).encode())
    # durable before it is named: a power cut after the pointer swap must not leave the
    # active version with empty files (the swap syncs its own folder after it)
    fsync_tree(staged.folder)
    staged.folder.rename(target)
    fsync_dir(target.parent)
    tx.env.injector.point("mid:activate:placed")
    return target


def _read_tree(tx: Tx, name: str, version: str) -> dict[str, list[int | str]]:
    try:
        data = json.loads(tx.env.layout.tree_file(name, version).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def swap(tx: Tx, name: str, to_version: str | None) -> None:
    link = tx.env.layout.current(name)
    previous = pointer.read(link)
    tx.event("pointer", {"plugin": name, "from": previous, "to": to_version})
    pointer.point(link, to_version)
    tx.env.injector.point("mid:activate:swapped")


def check_health(tx: Tx, manifest: Manifest) -> None:
    """Import the version and call its health hook through the sandbox's door (never in this
    process): a denied operation fails the phase with the denial as its reason."""
    name, version = manifest.name, manifest.version
    door = tx.env.health
    if door is None:
        raise OperationFailed(Code.HEALTH_CHECK_UNAVAILABLE, "no sandbox to run the health check "
                              "in", where=f"{name}@{version}",
                              next_step="construct the installer with a health door "
                                        "(`Executor.health`), as `pluginops` does")
    result = door(manifest, tx.env.health_timeout, tx.id)
    tx.note(f"health of {name} {version}: {'healthy' if result.healthy else 'UNHEALTHY'} "
            f"({result.detail})")
    for denial in result.denials:
        tx.note(f"denied {denial['operation']} {denial['target']} ({denial['rule']})")
    if result.denials:
        first = result.denials[0]
        raise OperationFailed(
            Code.HEALTH_CHECK_DENIED, f"health check denied: {first['operation']} "
            f"{first['target']} (rule {first['rule']})", where=f"{name}@{version}",
            next_step="the health hook (or import-time code) did what the plugin's sandbox "
                      "profile does not grant: remove it, or declare and get approved the "
                      "permission it needs")
    if not result.healthy:
        raise OperationFailed(Code.HEALTH_CHECK_FAILED, f"health check failed: {result.detail}",
                              where=f"{name}@{version}",
                              next_step=f"see the log ({tx.env.layout.log(tx.id)}); fix the "
                                        "plugin's health hook or import errors and publish a "
                                        "new version")


def installed_row(staged_or_manifest: Staged | dict[str, Any], tx_id: str,
                  now: float) -> InstalledRow:
    manifest = (staged_or_manifest.published.entry.manifest
                if isinstance(staged_or_manifest, Staged) else staged_or_manifest)
    return InstalledRow(manifest["name"], manifest["version"], manifest["type"], tx_id, now,
                        manifest)
