"""The folders are floors. Each top-level package may import only the packages on the floors
below it; an import anywhere in a module (top of the file or inside a function) counts.

    pluginops (the command line and the composition root: may import every room)
    stack  harness  fleet  (the live stack and fault injector; the pytest plugin; rollouts)
    evaluator  dashboards
    runtime    collector  alerts (the pure rule generator)
    contracts  (names, errors, layout, version, durable files: imports no project package)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

ALLOWED: dict[str, frozenset[str]] = {
    "contracts": frozenset(),
    "runtime": frozenset({"contracts"}),
    "collector": frozenset({"contracts"}),
    "alerts": frozenset({"contracts"}),
    # the weekly report carries the runtime's KPI scorecard (runtime.kpi)
    "evaluator": frozenset({"contracts", "runtime", "collector", "alerts"}),
    "dashboards": frozenset({"contracts", "alerts"}),
    "stack": frozenset({"contracts", "runtime", "collector", "alerts", "dashboards"}),
    "harness": frozenset({"contracts", "runtime"}),
    "fleet": frozenset({"contracts", "runtime", "collector", "alerts"}),
    "pluginops": frozenset({"contracts", "runtime", "collector", "alerts", "evaluator",
                            "dashboards", "stack", "harness", "fleet"}),
}


def imports(root: Path, packages: set[str]) -> set[tuple[str, str, str]]:
    """(importing module, its package, imported package) for every import of one project
    package by another under `root`."""
    found = set()
    for package in packages:
        for source in sorted((root / package).rglob("*.py")):
            module = ".".join(source.relative_to(root).with_suffix("").parts)
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    target = name.split(".")[0]
                    if target in packages and target != package:
                        found.add((module, package, target))
    return found


def back_arrows(root: Path, allowed: dict[str, frozenset[str]]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, package, target
                  in imports(root, set(allowed)) if target not in allowed[package])


def test_every_folder_of_code_has_a_floor() -> None:
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    folders = {Path(name).parts[0] for name in tracked if len(Path(name).parts) > 1}
    # what is not shipped code: tests, benchmarks, scripts, example plugins, generated schemas
    outside = {"tests", "bench", "scripts", "examples", "schemas"}
    assert folders - outside == set(ALLOWED)


def test_no_package_imports_one_above_its_floor() -> None:
    assert back_arrows(REPO, ALLOWED) == []


def test_the_ground_floor_imports_no_project_package() -> None:
    assert [target for _, package, target in imports(REPO, set(ALLOWED))
            if package == "contracts"] == []


@pytest.mark.parametrize(("package", "statement"), [
    ("runtime", "from pluginops.cli import wiring"),
    ("contracts", "import runtime.sandbox"),
    ("alerts", "    from stack import processes"),  # hidden inside a function
])
def test_a_deliberate_back_arrow_is_caught(tmp_path: Path, package: str,
                                           statement: str) -> None:
    for name in ALLOWED:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    body = f"def f():\n{statement}\n" if statement.startswith(" ") else statement + "\n"
    (tmp_path / package / "sneaky.py").write_text(body)
    target = statement.split()[1].split(".")[0]
    assert back_arrows(tmp_path, ALLOWED) == [f"{package}.sneaky imports {target}"]


def test_the_command_line_starts_without_the_optional_extras() -> None:
    """`pip install pluginops` has no numpy, pandas, pyarrow, scipy, matplotlib or Grafana SDK:
    importing the CLI (every command module) must not need them."""
    blocked = ["numpy", "pandas", "pyarrow", "scipy", "matplotlib", "grafana_foundation_sdk"]
    code = ("import sys\n"
            f"for name in {blocked!r}:\n"
            "    sys.modules[name] = None  # an import of it now raises ImportError\n"
            "import pluginops.cli\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
