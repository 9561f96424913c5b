"""Every finding code is shown by a broken example, reported as examples/BROKEN.md says."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from pluginops.cli import cli
from runtime.preflight.codes import CODES
from tests.conftest import EXAMPLES

BROKEN = EXAMPLES / "broken"


def readme_table() -> dict[str, set[str]]:
    """folder -> codes, from examples/BROKEN.md."""
    table: dict[str, set[str]] = {}
    for line in (EXAMPLES / "BROKEN.md").read_text().splitlines():
        match = re.match(r"\| (`[^|]+`(?:, `[^|]+`)*|any `dependency-\*`) \| `([A-Z_]+)` \|", line)
        if match:
            for folder in re.findall(r"`([^`]+)`", match.group(1)):
                table.setdefault(folder, set()).add(match.group(2))
    return table


def run_preflight(runner: CliRunner, *args: str) -> dict[str, set[str]]:
    folders = sorted(str(p) for p in BROKEN.iterdir())  # exactly `examples/broken/*`
    result = runner.invoke(cli, ["preflight", *folders, "--format", "json", *args])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    found: dict[str, set[str]] = {}
    for item in report["results"]:
        assert item["findings"], f"{item['manifest']} has no finding"
        for f in item["findings"]:
            assert f["code"] in CODES
            assert f["message"] and f["next_step"], f
            assert f["field"] == "" or f["field"].startswith("/")
        found[Path(item["manifest"]).name] = {f["code"] for f in item["findings"]}
    return found


def test_the_readme_table_lists_every_code() -> None:
    listed = set().union(*readme_table().values())
    assert listed == set(CODES)


def test_each_broken_example_reports_its_code(runner: CliRunner, tmp_path: Path,
                                              example_registry: Path) -> None:
    found = run_preflight(runner, "--registry", str(example_registry),
                          "--home", str(tmp_path))
    found_prerelease = run_preflight(runner, "--registry", str(example_registry),
                                     "--host", str(EXAMPLES / "hosts" / "prerelease-2.9.json"))
    for folder, codes in readme_table().items():
        if folder == "dependency-*":
            continue
        source = found_prerelease if folder == "host-prerelease" else found
        assert codes <= source[folder], (folder, source[folder])


def test_without_a_registry_dependency_examples_are_unchecked(runner: CliRunner,
                                                              tmp_path: Path) -> None:
    found = run_preflight(runner, "--home", str(tmp_path))
    unchecked = {f for f, codes in found.items() if "DEPENDENCIES_UNCHECKED" in codes}
    assert unchecked == {"dependency-not-found", "dependency-unsatisfiable",
                         "dependency-conflict", "dependency-cycle"}


def test_every_example_plugin_passes_preflight_clean(runner: CliRunner,
                                                     example_registry: Path) -> None:
    folders = sorted(str(p) for p in (EXAMPLES / "plugins").iterdir())
    result = runner.invoke(cli, ["preflight", *folders, "--strict", "--format", "json",
                                 "--registry", str(example_registry)])
    assert result.exit_code == 0, result.output
    assert [r["findings"] for r in json.loads(result.stdout)["results"]] == [[]] * len(folders)
