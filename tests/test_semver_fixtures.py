"""node-semver's own range fixtures (npm/node-semver 7.8.5): every case answers as node does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.semver import satisfies

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "semver"


def _options(raw: Any) -> dict[str, bool]:
    if raw is True:  # node-semver's legacy spelling of {loose: true}
        return {"loose": True, "include_prerelease": False}
    if not isinstance(raw, dict):
        return {"loose": False, "include_prerelease": False}
    return {"loose": bool(raw.get("loose")),
            "include_prerelease": bool(raw.get("includePrerelease"))}


def _cases(name: str) -> list[Any]:
    cases = json.loads((FIXTURES / name).read_text())
    return [pytest.param(r, v, o, id=f"{r!r} {v!r} {o!r}") for r, v, o in cases]


INCLUDE = _cases("range-include.json")
EXCLUDE = _cases("range-exclude.json")


def test_all_224_fixtures_are_present() -> None:
    assert len(INCLUDE) + len(EXCLUDE) == 224


@pytest.mark.parametrize(("range_text", "version", "options"), INCLUDE)
def test_version_satisfies_range(range_text: str, version: Any, options: Any) -> None:
    assert satisfies(version, range_text, **_options(options)) is True


@pytest.mark.parametrize(("range_text", "version", "options"), EXCLUDE)
def test_version_does_not_satisfy_range(range_text: str, version: Any, options: Any) -> None:
    assert satisfies(version, range_text, **_options(options)) is False
