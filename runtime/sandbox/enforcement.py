"""A plugin's enforcement log: its most recent denials in the audit log (what was denied, by
which profile rule, when), read from the end of the log backwards so that a page costs what it
shows, not the size of the log."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 1 << 16
SCAN_LIMIT = 64 << 20  # look this far back at most (the newest records are the ones shown)


def lines_backwards(path: Path, limit_bytes: int = SCAN_LIMIT) -> Iterator[bytes]:
    """Whole lines of the file, last first, from at most its last `limit_bytes`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        end = os.fstat(fd).st_size
        floor = max(0, end - limit_bytes)
        position, rest = end, b""
        while position > floor:
            size = min(CHUNK, position - floor)
            position -= size
            block = os.pread(fd, size, position) + rest
            parts = block.split(b"\n")
            rest = parts[0]  # may continue in the block before
            for line in reversed(parts[1:]):
                if line:
                    yield line
        if rest and floor == 0:
            yield rest
    finally:
        os.close(fd)


def recent_denials(audit_log: Path, plugin: str, limit: int = 50) -> list[dict[str, Any]]:
    """The plugin's last `limit` denials, newest first."""
    mark = f'"plugin": {json.dumps(plugin)}'.encode()
    found = []
    for line in lines_backwards(audit_log):
        if b'"kind": "denial"' not in line or mark not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line (an append in flight)
        if record.get("kind") == "denial" and record.get("plugin") == plugin:
            found.append(record)
            if len(found) >= limit:
                break
    return found
