"""The download phase: copy an artifact from the registry into staging (a folder) or fetch it
(`https://` registry, resuming after a dropped connection), with a size cap, hashing as it goes,
and reporting progress."""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import time
from collections.abc import Callable
from pathlib import Path

from contracts.codes import Code
from contracts.errors import OperationFailed
from runtime.registry.http import HttpSource, RegistryFailed

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


def download_remote(source: HttpSource, artifact: str, dest: Path, expected_size: int,
             progress: Progress | None = None, cap: int = MAX_ARTIFACT_BYTES) -> str:
    """Fetch `artifact` (a path under the registry's URL) into `dest`, resuming after a dropped
    connection; the sha256 of what was written."""
    where = f"{source.url}/{artifact}"
    if expected_size > cap:
        raise OperationFailed(Code.ARTIFACT_TOO_LARGE,
                              f"index says {expected_size} bytes; the cap is {cap}",
                              where=where, next_step="ship a smaller plugin")
    digest = hashlib.sha256()
    written = 0
    broken = 0
    with dest.open("wb") as out:
        while True:
            headers = {"Range": f"bytes={written}-"} if written else {}
            try:
                with source.retrying(functools.partial(source.open, artifact, headers)) \
                        as response:
                    if written and response.status != 206:  # ranges ignored: start again
                        out.seek(0)
                        out.truncate()
                        written, digest = 0, hashlib.sha256()
                    while chunk := response.read(CHUNK):
                        written += len(chunk)
                        if written > expected_size:
                            raise OperationFailed(
                                Code.ARTIFACT_SIZE_MISMATCH, f"artifact is larger than the "
                                f"{expected_size} bytes indexed", where=where,
                                next_step="the registry copy was altered; republish")
                        digest.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress(written, expected_size)
            except RegistryFailed as failed:
                if failed.status == 404:
                    raise OperationFailed(Code.ARTIFACT_MISSING, "the indexed artifact is not "
                                          "in the registry", where=where,
                                          next_step="republish the plugin") from None
                raise
            except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
                broken += 1
                if broken > source.retries:
                    raise OperationFailed(
                        Code.ARTIFACT_DOWNLOAD_FAILED, f"the download broke off {broken} times "
                        f"(last: {err or type(err).__name__}) at {written} of {expected_size} "
                        "bytes", where=where) from None
                time.sleep(source.backoff_s * 2 ** (broken - 1))
                continue  # resume from `written`
            if written >= expected_size:
                break
            broken += 1  # the body ended early without an error: resume too
            if broken > source.retries:
                raise OperationFailed(Code.ARTIFACT_DOWNLOAD_FAILED, f"the server sent "
                                      f"{written} of {expected_size} bytes", where=where)
            time.sleep(source.backoff_s * 2 ** (broken - 1))
        out.flush()
        os.fsync(out.fileno())
    if written != expected_size:
        raise OperationFailed(Code.ARTIFACT_SIZE_MISMATCH,
                              f"artifact has {written} bytes, the index says {expected_size}",
                              where=where, next_step="the registry copy was altered; republish")
    return digest.hexdigest()
