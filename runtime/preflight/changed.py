"""Which plugin manifests a change touched: every plugin folder (one holding `plugin.json`) with
a file added, copied, modified or renamed since a git revision, or untracked and not ignored."""

from __future__ import annotations

import subprocess
from pathlib import Path

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.manifest.read import MANIFEST_FILE


def _git(repo: Path, *args: str) -> list[str]:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=False, timeout=60)
    except FileNotFoundError:
        raise PluginopsError(Code.GIT_UNAVAILABLE, "git is not installed", where="--changed",
                             next_step="install git, or pass the manifests by path") from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise PluginopsError(Code.GIT_BASE_INVALID, detail, where="--changed",
                             next_step="pass a revision that exists here, e.g. origin/main; in "
                                       "CI fetch it first (fetch-depth: 0)")
    return [line for line in done.stdout.splitlines() if line]


def _plugin_dir(path: Path, top: Path) -> Path | None:
    for folder in [path if path.is_dir() else path.parent, *path.parents]:
        if (folder / MANIFEST_FILE).is_file():
            return folder
        if folder == top:
            return None
    return None


def changed_manifests(repo: Path, base: str) -> list[Path]:
    top = Path(_git(repo, "rev-parse", "--show-toplevel")[0])
    names = _git(top, "diff", "--name-only", "--diff-filter=ACMRT", base, "--")
    names += _git(top, "ls-files", "--others", "--exclude-standard")
    found: dict[Path, None] = {}
    for name in names:
        folder = _plugin_dir(top / name, top)
        if folder is not None:
            found[folder / MANIFEST_FILE] = None
    return sorted(found)
