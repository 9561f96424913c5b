"""The preflight finding codes: the findings' part of the one code table
(`contracts/codes.py`), each with its default severity, meaning and remedy.

`docs/preflight-codes.md` is generated from it (`pluginops generate`), and a test fails when it
is stale or when a code is emitted that is not listed.
"""

from __future__ import annotations

from contracts.codes import FINDINGS, CodeInfo, markdown_table

CODES: dict[str, CodeInfo] = {c.code: c for c in FINDINGS}


def info(code: str) -> CodeInfo:
    return CODES[code]


def render_markdown() -> str:
    """docs/preflight-codes.md."""
    return markdown_table("Preflight finding codes", [
        "Every finding has a stable `code`, a `severity`, the JSON Pointer `field` it concerns, a",
        "`message` and a `next_step`. A result is `ok` when it has no error (with `--strict`: no",
        "warning either).",
    ], ["code", "severity", "meaning", "remedy"],
        [[f"`{c.code}`", str(c.severity), c.meaning, c.remedy] for c in FINDINGS])
