"""The download phase: copy an artifact from the registry into staging, with a size cap, hashing
as it goes, and reporting progress."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from contracts.codes import Code
from contracts.errors import OperationFailed

MAX_ARTIFACT_BYTES = 512 * 1024 * 1024
CHUNK = 1 << 20

Progress = Callable[[int, int], None]


def download(source: Path, dest: Path, expected_size: int,
             progress: Progress | None = None, cap: int = MAX_ARTIFACT_BYTES) -> str:
    """Copy `source` to `dest`; the sha256 of what was copied."""
    if expected_size > cap:
        raise OperationFailed(Code.ARTIFACT_TOO_LARGE,
                              f"index says {expected_size} bytes; the cap is {cap}",
                              where=str(source), next_step="ship a smaller plugin")
    digest = hashlib.sha256()
    copied = 0
    try:
        with source.open("rb") as src, dest.open("wb") as out:
            while chunk := src.read(CHUNK):
                copied += len(chunk)
                if copied > max(expected_size, 0) or copied > cap:
                    raise OperationFailed(
                        Code.ARTIFACT_SIZE_MISMATCH,
                        f"artifact is larger than the {expected_size} bytes indexed",
                        where=str(source), next_step="the registry copy was altered; republish")
                digest.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(copied, expected_size)
            out.flush()
            os.fsync(out.fileno())
    except FileNotFoundError:
        raise OperationFailed(Code.ARTIFACT_MISSING, "the indexed artifact is not in the registry",
                              where=str(source), next_step="republish the plugin") from None
    if copied != expected_size:
        raise OperationFailed(Code.ARTIFACT_SIZE_MISMATCH,
                              f"artifact has {copied} bytes, the index says {expected_size}",
                              where=str(source), next_step="the registry copy was altered; "
                                                           "republish")
    return digest.hexdigest()
