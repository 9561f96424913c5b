"""Deterministic packing of a plugin folder: the same files give the same `.tar.gz` bytes.

Entries are sorted, owners, times and modes normalised, and gzip's header carries no name or time.
Links, devices and anything outside regular files and folders are refused.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

from contracts.codes import Code
from contracts.errors import PluginopsError

SKIPPED_NAMES = frozenset({"__pycache__", ".git", ".hg", ".svn", ".DS_Store", ".pytest_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
MAX_PACKAGE_BYTES = 512 * 1024 * 1024
MAX_ENTRIES = 10_000


def package_files(root: Path) -> list[Path]:
    """Relative paths of what goes into the artifact, folders included, sorted."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES)
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            if name in SKIPPED_NAMES or name.endswith(SKIPPED_SUFFIXES):
                continue
            path = base / name
            mode = path.lstat().st_mode
            rel = path.relative_to(root)
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise PluginopsError(
                    Code.PACKAGE_ENTRY_REFUSED, "links, devices and sockets cannot be packed",
                    where=str(path), next_step="replace the link with the file it points to")
            found.append(rel)
    if len(found) > MAX_ENTRIES:
        raise PluginopsError(Code.PACKAGE_TOO_LARGE, f"{len(found)} entries (cap {MAX_ENTRIES})",
                             where=str(root), next_step="ship fewer files")
    return sorted(found, key=lambda p: p.as_posix())


def _info(root: Path, rel: Path) -> tarfile.TarInfo:
    st = (root / rel).lstat()
    info = tarfile.TarInfo(rel.as_posix())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    if stat.S_ISDIR(st.st_mode):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size = st.st_size
        info.mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
    return info


def pack(root: Path) -> bytes:
    """The artifact's bytes."""
    total = 0
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for rel in package_files(root):
            info = _info(root, rel)
            total += info.size
            if total > MAX_PACKAGE_BYTES:
                raise PluginopsError(Code.PACKAGE_TOO_LARGE, f"over {MAX_PACKAGE_BYTES} bytes",
                                     where=str(root), next_step="ship less data in the plugin")
            if info.isdir():
                tar.addfile(info)
            else:
                with (root / rel).open("rb") as handle:
                    tar.addfile(info, handle)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()
