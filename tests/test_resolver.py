"""Transitive dependency resolution: what resolves, and how each failure is explained."""

from __future__ import annotations

import pytest

from runtime.manifest.model import Manifest
from runtime.preflight import PreflightContext, check_manifest
from runtime.preflight.host_checks import check_host_range
from runtime.resolver import resolve, runs_on
from tests.builders import a_host, a_manifest, a_registry, dep


def root(**deps: str) -> Manifest:
    return Manifest.model_validate(dep("app", "1.0.0", **deps))


def test_picks_the_newest_versions_that_satisfy_every_range_transitively() -> None:
    registry = a_registry(dep("lib", "1.0.0"), dep("lib", "1.5.0"), dep("lib", "2.0.0"),
                          dep("mid", "1.0.0", lib="~1.0"), dep("mid", "1.1.0", lib="^1.2"))
    result = resolve(root(mid="^1.0.0"), registry, a_host())
    assert result.failures == []
    assert {n: str(c.version) for n, c in result.pinned.items()} == {
        "app": "1.0.0", "mid": "1.1.0", "lib": "1.5.0"}


def test_backtracks_to_an_older_version_to_avoid_a_conflict() -> None:
    registry = a_registry(dep("lib", "1.0.0"), dep("lib", "2.0.0"),
                          dep("mid", "1.0.0", lib="^1.0.0"), dep("mid", "2.0.0", lib="^2.0.0"))
    result = resolve(root(mid="*", lib="^1.0.0"), registry, a_host())
    assert result.failures == []
    assert str(result.pinned["mid"].version) == "1.0.0"


def test_skips_versions_that_do_not_run_on_this_host() -> None:
    registry = a_registry(dep("lib", "1.0.0"),
                          {**dep("lib", "1.1.0"), "host": "^3.0.0"},
                          {**dep("lib", "1.2.0"), "api": "4.9"})
    result = resolve(root(lib="^1.0.0"), registry, a_host())
    assert str(result.pinned["lib"].version) == "1.0.0"


def test_a_conflict_names_both_chains() -> None:
    registry = a_registry(dep("lib", "1.0.0"), dep("lib", "2.0.0"),
                          dep("left", "1.0.0", lib="^1.0.0"), dep("right", "1.0.0", lib="^2.0.0"))
    (failure,) = resolve(root(left="^1", right="^1"), registry, a_host()).failures
    assert failure.kind == "conflict" and failure.dependency == "lib"
    assert sorted(failure.chains) == [
        ("app@1.0.0", "left@1.0.0", "lib ^1.0.0"),
        ("app@1.0.0", "right@1.0.0", "lib ^2.0.0"),
    ]


def test_an_unknown_dependency_deep_in_the_tree_names_its_chain_and_root_entry() -> None:
    registry = a_registry(dep("mid", "1.0.0", ghost="^1"))
    _, findings = check_manifest(a_manifest(dependencies={"mid": "^1"}),
                                 PreflightContext(a_host(), registry))
    (item,) = findings
    assert (item.code, item.field) == ("DEPENDENCY_NOT_FOUND", "/dependencies/mid")
    assert "acme-http@1.4.0 -> mid@1.0.0 -> ghost ^1" in item.message


def test_an_unsatisfiable_range_says_when_the_host_is_the_reason() -> None:
    registry = a_registry({**dep("lib", "1.0.0"), "host": "^3.0.0"})
    (failure,) = resolve(root(lib="^1.0.0"), registry, a_host()).failures
    assert failure.kind == "unsatisfiable"
    assert "1 version(s) match '^1.0.0' but none runs on host 2.8.0" in failure.detail


def test_a_three_plugin_cycle_is_reported_once_with_its_path() -> None:
    registry = a_registry(dep("a", "1.0.0", b="^1"), dep("b", "1.0.0", c="^1"),
                          dep("c", "1.0.0", a="^1"))
    failures = resolve(root(a="^1"), registry, a_host()).failures
    assert [(f.kind, f.detail) for f in failures] == [
        ("cycle", "a@1.0.0 -> b@1.0.0 -> c@1.0.0 -> a@1.0.0")]


def test_a_cycle_through_the_plugin_itself_is_found() -> None:
    registry = a_registry(dep("lib", "1.0.0", app="^1.0.0"))
    _, findings = check_manifest(dep("app", "1.0.0", lib="^1"),
                                 PreflightContext(a_host(), registry))
    assert [(f.code, f.field, f.message) for f in findings] == [
        ("DEPENDENCY_CYCLE", "/dependencies/lib",
         "dependency cycle: app@1.0.0 -> lib@1.0.0 -> app@1.0.0")]


def test_a_diamond_is_not_a_cycle() -> None:
    registry = a_registry(dep("base", "1.0.0"), dep("l", "1.0.0", base="^1"),
                          dep("r", "1.0.0", base="^1"))
    assert resolve(root(l="^1", r="^1"), registry, a_host()).failures == []


def test_without_a_registry_dependencies_are_a_warning_not_a_pass() -> None:
    _, findings = check_manifest(a_manifest(dependencies={"lib": "^1"}),
                                 PreflightContext(a_host()))
    assert [(f.code, f.severity.value) for f in findings] == [
        ("DEPENDENCIES_UNCHECKED", "warning")]


@pytest.mark.parametrize(("host", "declared", "runs"), [
    pytest.param("2.8.0", "^2.3.0", True, id="a release host inside the range runs it"),
    pytest.param("2.9.0-rc.1", "^2.3.0", True,
                 id="a prerelease host whose release is inside the range runs it"),
    pytest.param("2.9.0-rc.1", ">=2.9.0-rc.0", True,
                 id="a range naming the prerelease admits it by node-semver's own rule"),
    pytest.param("3.0.0-rc.1", "^2.3.0", False,
                 id="a prerelease of a release outside the range does not"),
    pytest.param("2.2.9", "^2.3.0", False, id="a release host below the range does not"),
])
def test_runs_on_applies_preflights_prerelease_host_policy(host: str, declared: str,
                                                           runs: bool) -> None:
    """The installer and the resolver pick versions with the same rule preflight reports."""
    manifest = Manifest.model_validate(a_manifest(host=declared, api="4.0"))
    described = a_host(version=host)
    assert runs_on(manifest, described) is runs
    errors = [f for f in check_host_range(manifest, described) if f.severity == "error"]
    assert (not errors) is runs
