from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.files import workers_may_enter
from runtime.host import this_host
from runtime.registry.order import publish_order
from runtime.registry.publish import publish

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


SESSION_TEMP_PREFIX = "pluginops-tests-"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The session's temporary folders live in a folder of their own, not under pytest's shared
    `/tmp/pytest-of-<user>`: every pytest run (another session, or a test that runs pytest)
    makes that one private again (0700), which would lock the sandbox workers of this session's
    homes out mid-run. xdist's workers get subfolders of it."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix=SESSION_TEMP_PREFIX)
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own:
        shutil.rmtree(own, ignore_errors=True)


_OWN_BASETEMP = pytest.StashKey[str]()

# The files that take minutes, longest first. `make test` runs `--dist loadfile
# --no-loadscope-reorder`: each file on one worker, handed out in collection order, so a long
# file handed out late leaves the other worker idle at the end (two minutes of a fresh run's 13,
# when xdist ordered files by their number of tests). Measured with `--durations`.
LONGEST_FIRST = ("test_live_alerting.py", "test_rules.py", "test_fleet_store.py",
                 "test_install_processes.py", "test_dashboards.py",
                 "test_evaluator_victoria_metrics.py", "test_pool_fleet.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as found


class _EnterableTempPaths:
    """pytest's temporary folders, each one enterable by other users (0711, not listable).

    Run as root, the runtime starts each plugin's workers under the plugin's own uid, and those
    must reach the package and scratch folders inside the homes the tests make; pytest makes
    every level 0700. Everything else is pytest's own factory."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)

    def getbasetemp(self) -> Path:
        base = self._factory.getbasetemp()
        system_temp = Path(tempfile.gettempdir()).resolve()
        for folder in (base, *base.parents):
            if folder == system_temp or system_temp not in folder.parents:
                break
            workers_may_enter(folder)
        return base

    def mktemp(self, basename: str, numbered: bool = True) -> Path:
        self.getbasetemp()
        return workers_may_enter(self._factory.mktemp(basename, numbered))


@pytest.fixture(scope="session")
def tmp_path_factory(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _EnterableTempPaths(tmp_path_factory)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def example_registry(tmp_path_factory: pytest.TempPathFactory,
                     signing_key: Ed25519PrivateKey) -> Path:
    """Every example plugin published, signed, into a fresh registry (read-only for tests)."""
    root = tmp_path_factory.mktemp("registry")
    for folder in publish_order(sorted((EXAMPLES / "plugins").iterdir())):
        publish(folder, root, this_host(), signing_key)
    return root


@pytest.fixture
def writable_registry(tmp_path: Path, example_registry: Path) -> Path:
    copy = tmp_path / "registry"
    shutil.copytree(example_registry, copy)
    return copy
