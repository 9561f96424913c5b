"""Reading a manifest from disk or bytes: size cap, UTF-8, strict JSON. No validation here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.codes import Code

MANIFEST_FILE = "plugin.json"
MAX_MANIFEST_BYTES = 256 * 1024


@dataclass(frozen=True)
class ReadProblem:
    """Why a manifest could not be read as JSON: a finding code and a message."""

    code: str
    message: str


def manifest_path(path: Path) -> Path:
    """A plugin folder stands for its `plugin.json`."""
    return path / MANIFEST_FILE if path.is_dir() else path


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes) -> Any | ReadProblem:
    """Strict JSON: UTF-8, no duplicate keys, no NaN or Infinity."""
    if len(data) > MAX_MANIFEST_BYTES:
        return ReadProblem(Code.MANIFEST_TOO_LARGE,
                           f"{len(data)} bytes; manifests are capped at {MAX_MANIFEST_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ReadProblem(Code.MANIFEST_NOT_JSON, f"not UTF-8 text (byte {exc.start})")
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates,
                          parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return ReadProblem(Code.MANIFEST_NOT_JSON,
                           f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
    except (ValueError, RecursionError) as exc:
        return ReadProblem(Code.MANIFEST_NOT_JSON, f"invalid JSON: {str(exc)[:200]}")


def read_manifest_bytes(path: Path) -> bytes | ReadProblem:
    """The file's bytes, reading at most one byte past the cap."""
    target = manifest_path(path)
    try:
        with target.open("rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        where = f"{path} has no {MANIFEST_FILE}" if path.is_dir() else f"{path} does not exist"
        return ReadProblem(Code.MANIFEST_UNREADABLE, where)
    except OSError as exc:
        return ReadProblem(Code.MANIFEST_UNREADABLE, f"cannot read {target}: {exc.strerror}")
    if len(data) > MAX_MANIFEST_BYTES:
        return ReadProblem(Code.MANIFEST_TOO_LARGE,
                           f"larger than the {MAX_MANIFEST_BYTES}-byte cap for manifests")
    return data
