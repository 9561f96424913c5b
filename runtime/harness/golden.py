"""`golden.json` beside a plugin's manifest: the cases the harness executes and the stubs its
world answers with.

    {"cases": [{"name": "flattens a record", "input": {...},
                "files": {"coverage.json": {...}},
                "expect": {"outcome": "success", "output": {...a subset...}}}],
     "mock_api": {"status.example.com": [{"method": "GET", "path": "/api/v2/summary.json",
                                           "status": 200, "body": {...}}]},
     "model": [{"when": "a substring of the prompt", "reply": "..."}],
     "search": [{"title": "...", "url": "..."}]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.codes import Code
from contracts.errors import PluginopsError

FILE = "golden.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expect(_Strict):
    outcome: str = "success"
    output: Any = None  # every key given must be present with this value (recursively)


class Case(_Strict):
    name: str
    input: Any = Field(default_factory=dict)
    files: dict[str, Any] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)


class Route(_Strict):
    method: str = "GET"
    path: str
    status: int = 200
    body: Any = None


class ModelRule(_Strict):
    when: str = ""
    reply: str


class Golden(_Strict):
    cases: list[Case] = Field(min_length=1)
    mock_api: dict[str, list[Route]] = Field(default_factory=dict)
    model: list[ModelRule] = Field(default_factory=list)
    search: list[dict[str, Any]] = Field(default_factory=list)


def load(plugin_dir: Path) -> Golden:
    path = plugin_dir / FILE
    if not path.is_file():
        raise PluginopsError(Code.GOLDEN_MISSING, f"{plugin_dir} has no {FILE}", where=str(path),
                             next_step=f"add {FILE} with at least one case: an input and the "
                                       "output it must give (see docs/harness.md)")
    try:
        return Golden.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise PluginopsError(Code.GOLDEN_INVALID, f"not JSON: {exc.msg}",
                             where=f"{path}:{exc.lineno}", next_step="fix the JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(str(p) for p in first["loc"])
        raise PluginopsError(Code.GOLDEN_INVALID, f"{where}: {first['msg']}", where=str(path),
                             next_step="see docs/harness.md for the golden.json format"
                             ) from None


def contains(actual: Any, expected: Any) -> bool:
    """Whether `actual` holds everything `expected` says (dicts by subset, the rest equal)."""
    if expected is None:
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in expected.items())
    return bool(actual == expected)
