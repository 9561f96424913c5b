"""The `current` pointer: a symlink swapped atomically (temp link, `os.replace`, fsync of the
folder), so a reader sees the old version or the new one, never neither."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from contracts.files import fsync_dir


def read(link: Path) -> str | None:
    """The version the pointer names, or None when there is none."""
    try:
        target = os.readlink(link)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Path(target).name


def point(link: Path, version: str | None) -> None:
    """Make `link` name `versions/<version>`, or remove it when version is None."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if version is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        fsync_dir(link.parent)
        return
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(os.path.join("versions", version), tmp)
    os.replace(tmp, link)
    fsync_dir(link.parent)
