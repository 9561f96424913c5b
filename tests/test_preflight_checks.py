"""The preflight decision, from manifest data to findings, one behaviour per case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.preflight import PreflightContext, check_manifest
from runtime.preflight.findings import is_ok
from tests.builders import a_host, a_manifest, a_plugin_dir


def codes_at(data: Any, host_version: str = "2.8.0", **ctx: Any) -> list[tuple[str, str]]:
    _, findings = check_manifest(data, PreflightContext(a_host(host_version), **ctx))
    return [(f.code, f.field) for f in findings]


CASES = [
    pytest.param(a_manifest(), [], id="a plain node plugin within range passes clean"),
    pytest.param([1, 2], [("MANIFEST_NOT_OBJECT", "")], id="a list is not a manifest"),
    pytest.param(a_manifest(entrypoint=None), [("MANIFEST_FIELD_MISSING", "/entrypoint")],
                 id="a missing field is named by its pointer"),
    pytest.param(a_manifest(homepage="x"), [("MANIFEST_FIELD_UNKNOWN", "/homepage")],
                 id="an unknown field is an error"),
    pytest.param(a_manifest(version=140), [("MANIFEST_FIELD_TYPE", "/version")],
                 id="a number where a string belongs is a type error"),
    pytest.param(a_manifest(dependencies={"x": 1}), [("MANIFEST_FIELD_TYPE", "/dependencies/x")],
                 id="a dependency range must be a string"),
    pytest.param(a_manifest(type="widget"), [("MANIFEST_FIELD_INVALID", "/type")],
                 id="an unknown plugin type is refused"),
    pytest.param(a_manifest(name="a" * 65), [("MANIFEST_FIELD_INVALID", "/name")],
                 id="names are at most 64 characters"),
    pytest.param(a_manifest(manifest_version=2), [("MANIFEST_VERSION_UNSUPPORTED",
                                                   "/manifest_version")],
                 id="an unknown manifest version lists the supported ones"),
    pytest.param(a_manifest(version="v1.4.0"), [("VERSION_INVALID", "/version")],
                 id="a leading v is not SemVer 2.0.0"),
    pytest.param(a_manifest(version="01.4.0"), [("VERSION_INVALID", "/version")],
                 id="leading zeros are not SemVer 2.0.0"),
    pytest.param(a_manifest(host="^2.3.0 ||| x"), [("HOST_RANGE_INVALID", "/host")],
                 id="an unreadable host range is refused"),
    pytest.param(a_manifest(host="^3.0.0"), [("HOST_RANGE_UNSATISFIED", "/host")],
                 id="a host below the range is incompatible"),
    pytest.param(a_manifest(host=">=2.1 <2.8"), [("HOST_RANGE_UNSATISFIED", "/host")],
                 id="an exclusive upper bound excludes the host"),
    pytest.param(a_manifest(host="1.2 - 2.8"), [], id="a hyphen range includes its upper end"),
    pytest.param(a_manifest(host="2.x || ^4"), [], id="an or-range passes on either side"),
    pytest.param(a_manifest(api="4.2"), [("API_VERSION_UNSUPPORTED", "/api")],
                 id="a minor above what the host serves is unsupported"),
    pytest.param(a_manifest(api="4.0"), [], id="a lower minor of a served major is served"),
    pytest.param(a_manifest(api="5.0"), [("API_VERSION_UNSUPPORTED", "/api")],
                 id="another major is not served"),
    pytest.param(a_manifest(api="4.x"), [("API_VERSION_INVALID", "/api")],
                 id="the api version is exactly MAJOR.MINOR"),
    pytest.param(a_manifest(entrypoint="main"), [("ENTRYPOINT_INVALID", "/entrypoint")],
                 id="an entrypoint without a function is refused"),
    pytest.param(a_manifest(entrypoint="../x:run"), [("ENTRYPOINT_INVALID", "/entrypoint")],
                 id="a path in the entrypoint is refused"),
    pytest.param(a_manifest(capabilities={"requires": ["log", "gpu"]}),
                 [("CAPABILITY_MISSING", "/capabilities/requires/1")],
                 id="each missing capability is named by its index"),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_preflight_decision(data: Any, expected: list[tuple[str, str]]) -> None:
    assert codes_at(data) == expected


def test_prerelease_host_is_matched_as_its_release_and_says_so() -> None:
    found = codes_at(a_manifest(host="^2.9.0"), host_version="2.9.0-rc.1")
    assert found == [("HOST_PRERELEASE", "/host")]


def test_prerelease_host_passes_plainly_when_the_range_names_its_prerelease() -> None:
    assert codes_at(a_manifest(host=">=2.9.0-rc.0 <3"), host_version="2.9.0-rc.1") == []


def test_prerelease_host_outside_the_range_even_as_release_is_incompatible() -> None:
    found = codes_at(a_manifest(host="^2.10.0"), host_version="2.9.0-rc.1")
    assert found == [("HOST_RANGE_UNSATISFIED", "/host")]


def test_incompatible_host_message_and_next_step_name_both_versions() -> None:
    _, findings = check_manifest(a_manifest(host="^3.0.0"), PreflightContext(a_host("2.7.1")))
    assert findings[0].message == "requires host ^3.0.0, this host is 2.7.1"
    assert "2.7.1" in findings[0].next_step and "^3.0.0" in findings[0].next_step


PERMISSIONS = [
    pytest.param(dict(type="node", permissions={"network": ["api.example.com"]}),
                 [("PERMISSION_NOT_IN_PROFILE", "/permissions/network/0")],
                 id="a node plugin may not use the network"),
    pytest.param(dict(type="integration", permissions={"network": ["api.example.com"]}), [],
                 id="an integration may name its domains"),
    pytest.param(dict(type="integration", permissions={"tools": ["web_search"]}),
                 [("PERMISSION_NOT_IN_PROFILE", "/permissions/tools/0")],
                 id="an integration gets no tools"),
    pytest.param(dict(type="agent", permissions={"tools": ["web_search"],
                                                 "budget": {"tokens_per_execution": 8000}}), [],
                 id="an agent's tools and a budget at the cap need no approval"),
    pytest.param(dict(type="agent", permissions={"budget": {"tokens_per_execution": 8001}}),
                 [("PERMISSION_NOT_IN_PROFILE", "/permissions/budget/tokens_per_execution")],
                 id="an agent's budget over the cap needs an elevated request"),
    pytest.param(dict(type="node", permissions={"budget": {"tokens_per_execution": 1}}),
                 [("PERMISSION_NOT_IN_PROFILE", "/permissions/budget/tokens_per_execution")],
                 id="a node plugin has no token budget at all"),
    pytest.param(dict(type="quality_gate",
                      permissions={"filesystem": [{"path": "$inputs/a.json", "mode": "r"},
                                                  {"path": "$report", "mode": "rw"}]}), [],
                 id="a quality gate reads its inputs and writes its report"),
    pytest.param(dict(type="quality_gate",
                      permissions={"filesystem": [{"path": "$inputs", "mode": "rw"}]}),
                 [("PERMISSION_NOT_IN_PROFILE", "/permissions/filesystem/0")],
                 id="a quality gate may not write its inputs"),
    pytest.param(dict(type="node", permissions={"filesystem": [{"path": "/etc/ssl/certs"}]}),
                 [("PERMISSION_NOT_IN_PROFILE", "/permissions/filesystem/0")],
                 id="an absolute path is beyond every profile"),
    pytest.param(dict(type="node", permissions={"processes": True}),
                 [("PERMISSION_NOT_IN_PROFILE", "/permissions/processes")],
                 id="no profile may start processes"),
    pytest.param(dict(type="node", permissions={"processes": True},
                      sandbox={"elevated": [{"kind": "process", "target": "spawn",
                                             "justification": "runs pandoc on the input"}]}),
                 [("ELEVATION_REQUESTED", "/sandbox/elevated/0")],
                 id="a justified elevated request turns the error into a pending approval"),
    pytest.param(dict(type="node",
                      sandbox={"elevated": [{"kind": "network", "target": "x.example.com",
                                             "justification": "fetches reference data"}]}),
                 [("ELEVATION_UNMATCHED", "/sandbox/elevated/0")],
                 id="a request for an undeclared permission is refused"),
    pytest.param(dict(type="integration", permissions={"network": ["x.example.com"]},
                      sandbox={"elevated": [{"kind": "network", "target": "x.example.com",
                                             "justification": "fetches reference data"}]}),
                 [("ELEVATION_UNNEEDED", "/sandbox/elevated/0")],
                 id="a request for what the profile grants is flagged as unneeded"),
    pytest.param(dict(type="node", permissions={"processes": True},
                      sandbox={"elevated": [{"kind": "process", "target": "spawn",
                                             "justification": "short"}]}),
                 [("MANIFEST_FIELD_INVALID", "/sandbox/elevated/0/justification")],
                 id="an elevated request needs a real justification"),
    pytest.param(dict(type="node", permissions={"filesystem": [{"path": "$scratch/../../etc"}]}),
                 [("MANIFEST_FIELD_INVALID", "/permissions/filesystem/0/path")],
                 id="a path that climbs out of its root is refused"),
]


@pytest.mark.parametrize(("overrides", "expected"), PERMISSIONS)
def test_permissions_against_type_profiles(overrides: dict[str, Any],
                                           expected: list[tuple[str, str]]) -> None:
    assert codes_at(a_manifest(**overrides)) == expected


def test_an_elevated_request_passes_unless_strict() -> None:
    data = a_manifest(permissions={"processes": True}, sandbox={"elevated": [
        {"kind": "process", "target": "spawn", "justification": "runs pandoc on the input"}]})
    _, findings = check_manifest(data, PreflightContext(a_host()))
    assert is_ok(findings, strict=False) is True
    assert is_ok(findings, strict=True) is False
    assert "pluginops approve acme-http --scope process:spawn" in findings[0].next_step


def test_entrypoint_checks_read_the_package_without_running_it(tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path, module="raise SystemExit('never run')\ndef run(i, c): pass\n")
    _, findings = check_manifest(a_manifest(), PreflightContext(a_host()), folder)
    assert findings == []


@pytest.mark.parametrize(("entrypoint", "module", "code"), [
    pytest.param("main:missing", "def run(i, c): pass\n", "ENTRYPOINT_NOT_FOUND",
                 id="a function the module does not define"),
    pytest.param("main:run", "def run(:\n", "ENTRYPOINT_NOT_FOUND",
                 id="a module that does not parse"),
    pytest.param("nope:run", "def run(i, c): pass\n", "ENTRYPOINT_NOT_FOUND",
                 id="a module the package does not have"),
    pytest.param("json:loads", "", "ENTRYPOINT_OUTSIDE_PACKAGE",
                 id="a standard-library module"),
])
def test_entrypoint_must_be_inside_the_package(tmp_path: Path, entrypoint: str, module: str,
                                               code: str) -> None:
    folder = a_plugin_dir(tmp_path, module=module)
    _, findings = check_manifest(a_manifest(entrypoint=entrypoint),
                                 PreflightContext(a_host()), folder)
    assert [(f.code, f.field) for f in findings] == [(code, "/entrypoint")]


def test_an_entrypoint_linked_out_of_the_package_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text("def run(i, c): pass\n")
    folder = a_plugin_dir(tmp_path / "pkg")
    (folder / "linked.py").symlink_to(outside)
    _, findings = check_manifest(a_manifest(entrypoint="linked:run"),
                                 PreflightContext(a_host()), folder)
    assert [f.code for f in findings] == ["ENTRYPOINT_OUTSIDE_PACKAGE"]
