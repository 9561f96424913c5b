"""Safe extraction of a plugin artifact: regular files and folders only, no absolute paths, no
`..`, no links or devices, and caps on entries and on bytes *as they are decompressed*, so a
gzip or tar bomb is refused after at most the cap, not unpacked.

Returns the tree: every file's size and sha256, kept beside the version for integrity checks.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from contracts.codes import Code
from contracts.errors import OperationFailed

MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
MAX_ENTRIES = 10_000
CHUNK = 1 << 20


class UnsafeArchive(OperationFailed):
    def __init__(self, message: str, where: str) -> None:
        super().__init__(Code.UNSAFE_ARCHIVE, message, where=where,
                         next_step="republish the plugin with `pluginops publish`, which packs "
                                   "only regular files; do not install this artifact")


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or ".." in path.parts or "\0" in name:
        raise UnsafeArchive(f"entry {name!r} would land outside the plugin folder", name)
    return path


def extract(archive: BinaryIO, dest: Path, max_bytes: int = MAX_UNPACKED_BYTES,
            max_entries: int = MAX_ENTRIES) -> dict[str, list[int | str]]:
    """Unpack into `dest` (which must not exist yet)."""
    dest.mkdir(parents=True)
    tree: dict[str, list[int | str]] = {}
    total = entries = 0
    try:
        with tarfile.open(fileobj=archive, mode="r|gz") as tar:
            for member in tar:
                entries += 1
                if entries > max_entries:
                    raise UnsafeArchive(f"more than {max_entries} entries", member.name)
                rel = _safe_name(member.name)
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise UnsafeArchive(f"entry {member.name!r} is not a regular file "
                                        f"(links, devices and fifos are refused)", member.name)
                if total + member.size > max_bytes:
                    raise UnsafeArchive(f"unpacks to more than {max_bytes} bytes", member.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                digest = hashlib.sha256()
                written = 0
                mode = 0o755 if member.mode & 0o100 else 0o644
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
                with os.fdopen(fd, "wb") as out:
                    while chunk := source.read(CHUNK):
                        written += len(chunk)
                        if total + written > max_bytes:
                            raise UnsafeArchive(f"unpacks to more than {max_bytes} bytes",
                                                member.name)
                        digest.update(chunk)
                        out.write(chunk)
                total += written
                tree[rel.as_posix()] = [written, digest.hexdigest()]
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise UnsafeArchive(f"not a readable .tar.gz: {exc}", str(dest)) from None
    return tree


def check_tree(root: Path, tree: dict[str, list[int | str]]) -> str | None:
    """A quick integrity check (existence and size of every file): the problem, or None."""
    for rel, (size, _digest) in tree.items():
        path = root / rel
        try:
            if path.stat().st_size != size:
                return f"{rel} changed size"
        except FileNotFoundError:
            return f"{rel} is missing"
    return None
