"""The distribution installs: the wheel and the sdist build, the wheel installs into a fresh
virtualenv outside the checkout with the runtime's dependencies only, and its commands run from
there with the files they read inside the wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.slow

# The runtime must not pull these in: they belong to the evaluator and dashboards extras.
EXTRA_ONLY = ("pandas", "pyarrow", "scipy", "matplotlib", "grafana_foundation_sdk")


@dataclass
class Installed:
    venv: Path
    wheel: Path
    sdist: Path
    work: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "PLUGINOPS_", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "pluginops"), *args], cwd=self.work,
                              env=self.env(), capture_output=True, text=True, timeout=timeout)

    def python(self, code: str) -> str:
        return subprocess.run([str(self.venv / "bin" / "python"), "-c", code], cwd=self.work,
                              env=self.env(), capture_output=True, text=True, check=True,
                              timeout=60).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist),
                    str(REPO)], check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("pluginops-*.whl")
    [sdist] = dist.glob("pluginops-*.tar.gz")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "-c", str(REPO / "constraints.txt"), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    work = root / "work"  # outside the checkout: nothing can be read from the repository
    work.mkdir()
    yield Installed(venv, wheel, sdist, work)
    shutil.rmtree(root, ignore_errors=True)


def test_the_wheel_carries_the_files_its_commands_read(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for needed in ("alerts/generated/rules.yml", "alerts/generated/alertmanager.yml",
                   "alerts/routing.yaml", "alerts/slos/defaults/node.yaml",
                   "runtime/api/templates/base.html",
                   "pluginops_schemas/plugin-manifest.schema.json",
                   "pluginops_schemas/openapi.json",
                   "pluginops_examples/faults/chaos-monkey/plugin.json",
                   "pluginops_examples/plugins/json-transform/transform.py",
                   "pluginops-0.1.0.dist-info/licenses/LICENSE"):
        assert needed in names, needed
    metadata = zipfile.ZipFile(installed.wheel).read("pluginops-0.1.0.dist-info/METADATA")
    assert b"License-Expression: Apache-2.0" in metadata
    assert b"Provides-Extra: evaluator" in metadata and b"Provides-Extra: dashboards" in metadata


def test_the_sdist_holds_what_builds_and_tests_the_project(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in ("LICENSE", "Makefile", "constraints.txt", "setup.py", "pyproject.toml",
                   "docs/architecture.md", "tests/fixtures/nab/NAB_LICENSE.txt",
                   "tests/fixtures/semver/LICENSE", "harness/pyproject.toml", ".ci/run"):
        assert needed in names, needed


def test_the_runtime_installs_without_the_evaluators_libraries(installed: Installed) -> None:
    found = json.loads(installed.python(
        "import importlib.util, json; print(json.dumps({n: importlib.util.find_spec(n) is not "
        f"None for n in {EXTRA_ONLY!r}}}))"))
    assert found == dict.fromkeys(EXTRA_ONLY, False)
    location = installed.python("import runtime, pluginops; print(pluginops.__file__)")
    assert str(installed.venv) in location and str(REPO) not in location


def test_a_command_without_its_extra_names_the_extra(installed: Installed) -> None:
    done = installed.run("evaluate", "--openmetrics", "fleet.om", "--format", "json")
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "EXTRA_MISSING"
    assert error["next_step"] == "pip install 'pluginops[evaluator]'"
    assert "Traceback" not in done.stderr


def test_the_lifecycle_runs_from_the_installed_wheel(installed: Installed) -> None:
    assert installed.run("--version").stdout.strip() == "pluginops, version 0.1.0"
    plugin = installed.work / "json-transform"
    shutil.copytree(EXAMPLES / "plugins" / "json-transform", plugin)
    home = str(installed.work / "home")

    def ok(*args: str, timeout: float = 300) -> str:
        done = installed.run(*args, "--home", home, timeout=timeout)
        assert done.returncode == 0, f"pluginops {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    ok("preflight", str(plugin))
    ok("keygen")
    refused = installed.run("publish", str(plugin), "--home", home)
    assert refused.returncode == 1 and "RELEASE_GATE_MISSING" in refused.stderr
    ok("release-gate", str(plugin), "--only", "install", "--only", "execute")
    ok("publish", str(plugin))
    ok("install", "json-transform")
    ran = json.loads(ok("run", "json-transform", "--input",
                        json.dumps({"record": {"a": {"b": 7}}, "fields": {"x": "a.b"}}),
                        "--format", "json"))
    assert ran["outcome"] == "success" and ran["output"] == {"record": {"x": 7}}


def test_rules_generate_from_the_installed_specs(installed: Installed) -> None:
    out = installed.work / "rules.yml"
    done = installed.run("rules", "generate", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == (REPO / "alerts" / "generated" / "rules.yml").read_text()


def test_the_fault_injector_runs_a_clean_scenario_from_the_wheel(installed: Installed) -> None:
    done = installed.run("inject", "--local", "--scenario", "clean", "--clean-seconds", "10",
                         "--format", "json", timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "INTERNAL_ERROR" not in done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["ok"] and result["unexpected"] == [] and result["notes"]["duration_s"] == 10
