"""The four operations as phase lists: install and update (download, verify,
dependency-prepare, activate, health-check), rollback (verify, activate, health-check) and
uninstall (verify, activate)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from contracts.codes import Code
from contracts.errors import OperationFailed
from runtime.install import extract
from runtime.install.context import Env, Tx
from runtime.install.elevation import check_elevation
from runtime.install.phases import (
    ACTIVATE,
    DEPENDENCY_PREPARE,
    DOWNLOAD,
    HEALTH_CHECK,
    VERIFY,
)
from runtime.install.steps import (
    Fetched,
    Staged,
    check_health,
    fetch_artifact,
    installed_row,
    place,
    swap,
    verify_artifact,
)
from runtime.install.transaction import Step, lock_plugin
from runtime.manifest.model import Manifest
from runtime.preflight.dependency_checks import FINDING_BY_KIND
from runtime.registry.index import Published
from runtime.resolver import Candidate, resolve
from runtime.semver import satisfies


@dataclass
class _Carry:
    """What one phase hands to the next."""

    fetched: Fetched | None = None
    staged: Staged | None = None


def install_steps(tx: Tx, published: Published) -> list[Step]:
    carry = _Carry()

    def download() -> None:
        carry.fetched = fetch_artifact(tx, published)
        tx.env.injector.point("mid:download")

    def verify() -> None:
        assert carry.fetched is not None
        carry.staged = verify_artifact(tx, published, carry.fetched)
        check_elevation(tx, published.manifest)

    def dependency_prepare() -> None:
        for dep in _dependency_order(tx.env, published):
            _install_dependency(tx, dep)

    def activate() -> None:
        staged = carry.staged
        assert staged is not None
        place(tx, staged)
        swap(tx, staged.name, staged.version)
        tx.installed.append(installed_row(staged, tx.id, tx.env.clock()))

    def health_check() -> None:
        check_health(tx, published.manifest)

    return [(DOWNLOAD, download), (VERIFY, verify), (DEPENDENCY_PREPARE, dependency_prepare),
            (ACTIVATE, activate), (HEALTH_CHECK, health_check)]


def _dependency_order(env: Env, published: Published) -> list[Candidate]:
    """The dependencies to bring, deepest first, from a fresh resolution."""
    registry = env.registry
    assert registry is not None
    resolution = resolve(published.manifest, registry, env.host)
    if resolution.failures:
        first = resolution.failures[0]
        raise OperationFailed(Code.DEPENDENCY_FAILED, f"{first.dependency}: {first.detail}",
                              where=f"{published.name}@{published.version}",
                              next_step="run `pluginops preflight` on the plugin for the chain",
                              cause=FINDING_BY_KIND.get(first.kind, Code.DEPENDENCY_FAILED))
    pinned = resolution.pinned
    ordered: list[Candidate] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep, _ in pinned[name].dependencies:
            if dep in pinned:
                visit(dep)
        if name != published.name:
            ordered.append(pinned[name])

    visit(published.name)
    return ordered


def _install_dependency(tx: Tx, dep: Candidate) -> None:
    env = tx.env
    version = str(dep.version)
    current = env.journal.installed_version(dep.name)
    if current == version:
        tx.note(f"dependency {dep.ref} already installed")
        return
    if current is not None:
        for row in env.journal.installed():
            wanted = row.manifest.get("dependencies", {}).get(dep.name)
            if row.plugin != tx.plugin and wanted and not satisfies(version, wanted):
                raise OperationFailed(
                    Code.DEPENDENCY_CONFLICT, f"{dep.ref} is needed, but installed {row.plugin} "
                    f"{row.version} requires {dep.name} {wanted}", where=dep.name,
                    next_step=f"update {row.plugin} first, or pin a compatible range")
    lock_plugin(env, tx, dep.name, tx.id, "install")
    registry = env.registry
    assert registry is not None
    published = registry.get(dep.name, version)
    assert published is not None
    tx.note(f"bringing dependency {dep.ref} (installed: {current or 'none'})")
    staged = verify_artifact(tx, published, fetch_artifact(tx, published))
    check_elevation(tx, published.manifest)
    place(tx, staged)
    swap(tx, dep.name, version)
    check_health(tx, published.manifest)
    tx.installed.append(installed_row(staged, tx.id, env.clock()))


def rollback_steps(tx: Tx, target: str) -> list[Step]:
    env = tx.env
    folder = env.layout.version_dir(tx.plugin, target)
    manifest: dict[str, object] = {}

    def verify() -> None:
        if not folder.is_dir():
            raise OperationFailed(Code.ROLLBACK_TARGET_MISSING,
                                  f"{tx.plugin} {target} is no longer on disk", where=str(folder),
                                  next_step=f"pluginops update {tx.plugin}@{target} fetches it "
                                            "from the registry")
        try:
            tree = json.loads(env.layout.tree_file(tx.plugin, target).read_text())
            manifest.update(json.loads((folder / "plugin.json").read_text()))
            Manifest.model_validate(manifest)
        except (OSError, ValueError) as exc:
            raise OperationFailed(Code.VERSION_FOLDER_DAMAGED, f"{folder}: {exc}",
                                  where=str(folder), next_step=f"pluginops update "
                                  f"{tx.plugin}@{target} installs it afresh") from None
        problem = extract.check_tree(folder, tree)
        if problem:
            raise OperationFailed(Code.VERSION_FOLDER_DAMAGED, f"{folder}: {problem}",
                                  where=str(folder), next_step=f"pluginops update "
                                  f"{tx.plugin}@{target} installs it afresh")

    def activate() -> None:
        swap(tx, tx.plugin, target)
        tx.installed.append(installed_row(dict(manifest), tx.id, env.clock()))

    def health_check() -> None:
        check_health(tx, Manifest.model_validate(manifest))

    return [(VERIFY, verify), (ACTIVATE, activate), (HEALTH_CHECK, health_check)]


def uninstall_steps(tx: Tx) -> list[Step]:
    env = tx.env

    def verify() -> None:
        # Checked again under the lock: a dependent may have arrived since the caller looked.
        dependents = [row.plugin for row in env.journal.installed()
                      if tx.plugin in row.manifest.get("dependencies", {})]
        if dependents:
            raise OperationFailed(Code.HAS_DEPENDENTS, f"{', '.join(dependents)} depend(s) on "
                                  f"{tx.plugin}", where=tx.plugin,
                                  next_step=f"uninstall {', '.join(dependents)} first")

    def activate() -> None:
        swap(tx, tx.plugin, None)
        tx.removed.append(tx.plugin)

    return [(VERIFY, verify), (ACTIVATE, activate)]
