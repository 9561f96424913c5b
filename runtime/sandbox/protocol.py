"""The pipe protocol between the executor and a worker: one JSON object per line.

executor -> worker   {"type": "execute", "id": 1, "inputs": {...}, "correlation_id": "..."}
worker -> executor   {"type": "call", "id": 7, "api": "http" | "llm" | "tool", "args": {...}}
executor -> worker   {"type": "reply", "id": 7, "result": ...} or {..., "denied": {...}}
                     or {..., "error": {"code": ..., "message": ...}}
worker -> executor   {"type": "result", "id": 1, "outcome": "success" | "error" | "denied",
                      "output": {...}, "error": {...}, "denials": [...], "cpu_s": 0.01}
worker -> executor   {"type": "ready", "layers": [...]} or {"type": "failed", ...} at start
executor -> worker   {"type": "health"}
worker -> executor   {"type": "health", "healthy": bool, "detail": "...", "denials": [...]}
"""

from __future__ import annotations

import json
from typing import Any

MAX_LINE = 64 * 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":"), default=str) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    data = json.loads(line)
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError("not a protocol message")
    return data
