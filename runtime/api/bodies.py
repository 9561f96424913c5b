"""Request bodies, judged before a use case sees them. JSON is parsed once, in one place: a body
that is not JSON, or nests deeper than `MAX_DEPTH` (a recursive parser's stack, and every
consumer after it, pay for depth), is a 400 with a code, never a 500. Sizes are bounded earlier,
by the server (`runtime/api/server.py`, `--max-body`)."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from contracts.codes import Code
from contracts.errors import PluginopsError

MAX_DEPTH = 32


def depth(value: Any) -> int:
    """How deeply lists and objects nest (a scalar: 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep() -> PluginopsError:
    return PluginopsError(Code.BODY_TOO_DEEP, f"the JSON body nests deeper than {MAX_DEPTH} "
                          "levels", where="body",
                          next_step=f"flatten it: at most {MAX_DEPTH} nested lists or objects")


def json_body(raw: bytes) -> Any:
    """The body's JSON value (an empty body is None)."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # UnicodeDecodeError is one
        raise PluginopsError(Code.BAD_REQUEST, f"the body is not JSON: {str(exc)[:200]}",
                             where="body", next_step="send a JSON object") from None
    if depth(data) > MAX_DEPTH:
        raise _too_deep()
    return data


def object_body(allowed: set[str],
                numbers: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The request's JSON object with only `allowed` fields, each a string (or null) unless
    named in `numbers`; no body is an empty object."""
    if not request.data:
        return {}
    data = json_body(request.get_data())
    if not isinstance(data, dict):
        raise PluginopsError(Code.BAD_REQUEST, "the body is not a JSON object", where="body",
                             next_step="send a JSON object, or no body")
    unknown = set(data) - allowed
    if unknown:
        raise PluginopsError(Code.BAD_REQUEST, f"unknown field(s): {', '.join(sorted(unknown))}",
                             where="body", next_step=f"allowed: {', '.join(sorted(allowed))}")
    for key, value in data.items():
        if key in numbers:
            continue  # the use case validates its numbers
        if value is not None and not isinstance(value, str):
            raise PluginopsError(Code.BAD_REQUEST, f"{key} must be a string", where=f"body.{key}",
                                 next_step='e.g. {"version": "^1.4"}')
    return data
