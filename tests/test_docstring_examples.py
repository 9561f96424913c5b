"""The examples in docstrings (`>>>`) are run: documentation that shows a call shows what it
really returns."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.conftest import REPO
from tests.test_layers import ALLOWED

MODULES = sorted(
    ".".join(path.relative_to(REPO).with_suffix("").parts)
    for package in ALLOWED for path in (REPO / package).rglob("*.py")
    if ">>>" in path.read_text(encoding="utf-8"))


def test_there_are_examples_to_run() -> None:
    assert "runtime.descriptors" in MODULES and "contracts.errors" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_a_module_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
