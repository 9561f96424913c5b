"""Bad input gets a structured finding or error, never a traceback, and changes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluginops.cli import cli
from runtime.preflight import PreflightContext, check_manifest
from runtime.preflight.codes import CODES
from runtime.preflight.findings import Finding
from runtime.preflight.run import check_path
from tests.builders import a_host, a_manifest


def only_finding(path: Path) -> tuple[str, str]:
    result = check_path(path, PreflightContext(a_host()))
    assert not result.ok
    (item,) = result.findings
    return item.code, item.message


@pytest.mark.parametrize(("content", "code", "message"), [
    pytest.param(b'{"name": "x",}', "MANIFEST_NOT_JSON",
                 "invalid JSON at line 1 column 14: Expecting property name enclosed in double "
                 "quotes", id="a trailing comma"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", "MANIFEST_NOT_JSON", "not UTF-8 text (byte 0)",
                 id="binary garbage"),
    pytest.param(b'{"name": "a", "name": "b"}', "MANIFEST_NOT_JSON",
                 "invalid JSON: duplicate key 'name'", id="a duplicated key"),
    pytest.param(b'{"version": NaN}', "MANIFEST_NOT_JSON", "invalid JSON: NaN is not JSON",
                 id="NaN"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "MANIFEST_NOT_JSON", None,
                 id="nesting deep enough to overflow a recursive parser"),
    pytest.param(b"", "MANIFEST_NOT_JSON",
                 "invalid JSON at line 1 column 1: Expecting value", id="an empty file"),
    pytest.param(b'"just a string"', "MANIFEST_NOT_OBJECT",
                 "the top level is a JSON str, not an object", id="a JSON string"),
])
def test_unreadable_manifests(tmp_path: Path, content: bytes, code: str,
                              message: str | None) -> None:
    path = tmp_path / "plugin.json"
    path.write_bytes(content)
    found = only_finding(path)
    assert found[0] == code
    if message is not None:
        assert found[1] == message


def test_a_50_mb_manifest_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "plugin.json"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    assert only_finding(path) == (
        "MANIFEST_TOO_LARGE", "larger than the 262144-byte cap for manifests")


def test_a_missing_path_is_a_finding(tmp_path: Path) -> None:
    assert only_finding(tmp_path / "nope.json") == (
        "MANIFEST_UNREADABLE", f"{tmp_path / 'nope.json'} does not exist")


def test_an_unreadable_file_is_a_finding(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        path = tmp_path  # a folder opened as a file: unreadable even for root
        (tmp_path / "plugin.json").mkdir()
    else:
        path = tmp_path / "plugin.json"
        path.write_text("{}")
        path.chmod(0)
    code, _ = only_finding(path)
    assert code == "MANIFEST_UNREADABLE"


@pytest.mark.parametrize(("overrides", "field"), [
    pytest.param({"version": "1.0.0-01"}, "/version", id="a prerelease with a leading zero"),
    pytest.param({"version": "1.0"}, "/version", id="a two-part version"),
    pytest.param({"host": "not a range"}, "/host", id="words as a range"),
    pytest.param({"host": "x" * 300}, "/host", id="an over-long range"),
    pytest.param({"dependencies": {"lib": ">>1"}}, "/dependencies/lib", id="a broken dep range"),
    pytest.param({"dependencies": {"Lib": "^1"}}, "/dependencies/Lib", id="a bad dep name"),
    pytest.param({"entrypoint": "/abs/path:run"}, "/entrypoint", id="an absolute entrypoint"),
    pytest.param({"capabilities": {"requires": [1]}}, "/capabilities/requires/0",
                 id="a number as a capability"),
    pytest.param({"permissions": {"network": ["-bad-.com"]}}, "/permissions/network/0",
                 id="a malformed domain"),
    pytest.param({"permissions": {"budget": {"tokens_per_execution": -1}}},
                 "/permissions/budget/tokens_per_execution", id="a negative budget"),
    pytest.param({"permissions": {"processes": "yes"}}, "/permissions/processes",
                 id="a string where a boolean belongs"),
])
def test_invalid_values_are_findings_at_their_pointer(overrides: dict[str, Any],
                                                      field: str) -> None:
    _, findings = check_manifest(a_manifest(**overrides), PreflightContext(a_host()))
    assert [f.field for f in findings] == [field]
    assert findings[0].severity.value == "error"


def test_cli_never_prints_a_traceback_on_garbage(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "plugin.json"
    bad.write_bytes(os.urandom(4096))
    result = runner.invoke(cli, ["preflight", str(bad), "--format", "json"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert json.loads(result.stdout)["results"][0]["findings"][0]["code"] == "MANIFEST_NOT_JSON"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["manifest_version", "name", "version", "type", "host", "api", "entrypoint",
          "capabilities", "permissions", "dependencies", "sandbox", "description"]
PLAUSIBLE = {
    "name": st.from_regex(r"[a-z0-9][a-z0-9._-]{0,70}", fullmatch=True) | st.text(max_size=10),
    "version": st.from_regex(r"\d{1,3}\.\d{1,3}\.\d{1,3}(-[a-z0-9.]{1,8})?", fullmatch=True),
    "type": st.sampled_from(["node", "integration", "agent", "quality_gate", "other"]),
    "host": st.sampled_from(["^2.0.0", "~2.8", ">=2.1 <4", "2.x", "1.2 - 2.3", "*", "^3 || ^2",
                             ">=", "~>1", "<0.0.0-0", "", "x.y.z"]),
    "api": st.from_regex(r"\d{1,2}\.\d{1,2}", fullmatch=True) | st.text(max_size=5),
    "entrypoint": st.sampled_from(["main:run", "a.b:c", "os:system", "bad", ":x"]),
    "dependencies": st.dictionaries(st.sampled_from(["lib", "Lib", "acme-http", "x"]),
                                    st.sampled_from(["^1", "*", ">>", "1.x"]) | JSON_VALUES,
                                    max_size=3),
}


def manifests() -> st.SearchStrategy[Any]:
    field_values = st.fixed_dictionaries(
        {}, optional={f: PLAUSIBLE.get(f, JSON_VALUES) | JSON_VALUES for f in FIELDS})
    return field_values | JSON_VALUES | st.dictionaries(st.text(max_size=8), JSON_VALUES)


def well_formed(item: Finding) -> bool:
    return (item.code in CODES and bool(item.message) and bool(item.next_step)
            and (item.field == "" or item.field.startswith("/")))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=manifests())
def test_any_json_gives_a_well_formed_result(data: Any) -> None:
    manifest, findings = check_manifest(data, PreflightContext(a_host()))
    assert all(well_formed(f) for f in findings)
    errors = [f for f in findings if f.severity.value == "error"]
    if manifest is None:
        assert errors, "an invalid manifest must come with an error"
    json.dumps([f.model_dump(mode="json") for f in findings])


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=512))
def test_any_bytes_give_a_well_formed_result(tmp_path_factory: pytest.TempPathFactory,
                                             raw: bytes) -> None:
    path = tmp_path_factory.mktemp("m") / "plugin.json"
    path.write_bytes(raw)
    result = check_path(path, PreflightContext(a_host()))
    assert all(well_formed(f) for f in result.findings)
    assert result.ok == (not any(f.severity.value == "error" for f in result.findings))
