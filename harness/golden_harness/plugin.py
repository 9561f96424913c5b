"""The pytest plugin (entry point `pytest11`).

    pytest --golden path/to/plugin [--golden-previous path/to/older] [--golden-registry DIR]
           [--golden-trust KEY] [--golden-host HOST.json]

adds one test per harness scenario (`golden[<plugin>]::update`, `golden[<plugin>]::failure@verify`,
...): a failed critical scenario fails its test with what was expected and what happened; a
skipped one is skipped with the reason. Without --golden the plugin adds nothing but fixtures:

- `golden_plan`: the Plan for --golden (or call `golden_plan_for(dir, ...)`);
- `golden_world`: a fresh temporary runtime with the candidate published, stubs started;
- `mock_api`: that world's stub server (its `requests` show what the plugin called);
- `approve_elevated` / `deny_elevated`: answer the permission prompt as a second person;
- `inject_failure`: run an install or update failing at a phase; returns (outcome, before, after).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.harness.run import plan_for
from runtime.harness.scenarios import Plan, ScenarioResult, run_one, scenarios, temporary_world
from runtime.harness.world import APPROVER, State, Stubs, World
from runtime.host import load_host, this_host
from runtime.install.transaction import Outcome


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("golden", "Pluginops golden harness")
    group.addoption("--golden", action="append", default=[], metavar="PLUGIN_DIR",
                    help="Run the golden harness scenarios of this plugin folder as tests.")
    group.addoption("--golden-previous", action="append", default=[], metavar="DIR",
                    help="A previous version's folder (published before the candidate).")
    group.addoption("--golden-registry", default=None, metavar="DIR",
                    help="A registry with dependencies and earlier versions (copied).")
    group.addoption("--golden-trust", action="append", default=[], metavar="KEY",
                    help="A public key that signed the registry's artifacts.")
    group.addoption("--golden-host", action="append", default=[], metavar="HOST_JSON",
                    help="A host description whose API versions are run too.")


def golden_plan_for(config: pytest.Config, plugin_dir: Path) -> Plan:
    served = set(this_host().api)
    for path in config.getoption("--golden-host"):
        served.update(load_host(Path(path)).api)
    registry = config.getoption("--golden-registry")
    return plan_for(plugin_dir, [Path(p) for p in config.getoption("--golden-previous")],
                    Path(registry) if registry else None,
                    tuple(Path(p) for p in config.getoption("--golden-trust")),
                    tuple(sorted(served, key=lambda v: tuple(map(int, v.split("."))))))


class GoldenFailure(Exception):
    pass


class GoldenItem(pytest.Item):
    def __init__(self, *, plan: Plan, scenario: str, critical: bool,
                 run: Callable[[Plan], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan, self.scenario, self.critical, self.run_scenario = \
            plan, scenario, critical, run
        self.result: ScenarioResult | None = None

    def runtest(self) -> None:
        self.result = run_one(self.scenario, self.critical, self.run_scenario, self.plan)
        if self.result.status == "skipped":
            pytest.skip(self.result.detail)
        if self.result.status == "failed":
            raise GoldenFailure(f"{self.plan.manifest.name} {self.plan.manifest.version}: "
                                f"{self.scenario}: {self.result.detail}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, GoldenFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.plan.plugin_dir, 0, f"golden {self.scenario}"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    for folder in config.getoption("--golden"):
        plan = golden_plan_for(config, Path(folder))
        for name, critical, run in scenarios(plan):
            items.append(GoldenItem.from_parent(
                session, name=f"golden[{plan.manifest.name}-{plan.manifest.version}]::{name}",
                plan=plan, scenario=name, critical=critical, run=run))


@pytest.fixture
def golden_plan(request: pytest.FixtureRequest) -> Plan:
    folders = request.config.getoption("--golden")
    if not folders:
        pytest.skip("no --golden PLUGIN_DIR given")
    return golden_plan_for(request.config, Path(folders[0]))


@pytest.fixture
def golden_world(golden_plan: Plan) -> Iterator[World]:
    # not under tmp_path: pytest makes it private (0700), and a root runtime's sandbox workers,
    # under their own uids, could not reach the world's plugins
    with temporary_world(golden_plan) as made:
        yield made


@pytest.fixture
def mock_api(golden_world: World) -> Stubs:
    return golden_world.stubs


def _decide(w: World, decision: str, reason: str) -> int:
    approvals = w.installer().env.approvals
    requests = approvals.requests(w.name)
    for request in requests:
        approvals.decide(w.name, request.scope, decision, APPROVER, reason, time.time())
    return len(requests)


@pytest.fixture
def approve_elevated(golden_world: World) -> Callable[[], int]:
    """Approve every pending elevated request as a second person; returns how many."""
    return lambda: _decide(golden_world, "approved", "approved in a golden test")


@pytest.fixture
def deny_elevated(golden_world: World) -> Callable[[], int]:
    return lambda: _decide(golden_world, "denied", "denied in a golden test")


@pytest.fixture
def inject_failure(golden_world: World) -> Callable[[str, str], tuple[Outcome, State, State]]:
    """`inject_failure(phase, target)`: install (or update, when a version is active) `target`
    with a failure at `phase`; returns the outcome and the state before and after."""

    def run(phase: str, target: str) -> tuple[Outcome, State, State]:
        before = golden_world.state()
        installer = golden_world.installer(inject_failure=phase)
        outcome = installer.update(target) if before.active else installer.install(target)
        return outcome, before, golden_world.state()

    return run
