"""One home per code: every error and finding code is a member of `contracts.codes.Code` with
one entry (meaning, remedy) in the table, nowhere spelled as a bare string, and every entry is
used. An error raised without a next step carries its code's remedy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from contracts.codes import ERRORS, FINDINGS, TABLE, Code
from contracts.errors import OperationFailed, PluginopsError
from tests.conftest import REPO
from tests.test_layers import ALLOWED

NAMES_FILE = Path("contracts") / "code_names.py"  # where each code is spelled, once


def sources(root: Path) -> list[Path]:
    return [path for package in ALLOWED for path in sorted((root / package).rglob("*.py"))
            if path != root / NAMES_FILE]


def spelled_codes(root: Path) -> list[str]:
    """Where a code appears as a string literal (`"NOT_INSTALLED"`), outside the table."""
    names = set(Code.__members__)
    found = []
    for path in sources(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value}")
    return found


def used_codes(root: Path) -> set[str]:
    used = set()
    for path in sources(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.value.id == "Code":
                used.add(node.attr)
    return used


def test_no_code_is_spelled_as_a_string_outside_the_table() -> None:
    assert spelled_codes(REPO) == []


def test_a_spelled_code_is_caught(tmp_path: Path) -> None:
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "careless.py").write_text(
        'def f():\n    raise OperationFailed("NOT_INSTALLED", "gone")\n')
    assert spelled_codes(tmp_path) == ["runtime/careless.py:2: NOT_INSTALLED"]


def test_every_code_has_one_entry_and_every_entry_is_used() -> None:
    assert sorted(TABLE) == sorted(Code)
    assert len(FINDINGS) + len(ERRORS) == len(Code)  # no code listed twice
    assert set(Code.__members__) - used_codes(REPO) == set()
    for info in TABLE.values():
        assert info.meaning.endswith(".") and info.remedy, info.code
        assert (info in FINDINGS) == (info.severity is not None), info.code


def test_an_error_without_a_next_step_carries_its_codes_remedy() -> None:
    err = OperationFailed(Code.NOT_INSTALLED, "lookup is not installed", where="lookup")
    assert err.next_step == TABLE[Code.NOT_INSTALLED].remedy
    assert err.to_dict()["code"] == "NOT_INSTALLED"
    precise = PluginopsError(Code.POLICY_INVALID, "x", next_step="fix line 3")
    assert precise.next_step == "fix line 3"


@pytest.mark.parametrize("code", ["HTTP_404", "SOMETHING_ELSE"])
def test_a_code_outside_the_table_has_no_invented_remedy(code: str) -> None:
    assert PluginopsError(code, "x").next_step == ""
