from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.host import this_host
from runtime.registry.order import publish_order
from runtime.registry.publish import publish

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


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
