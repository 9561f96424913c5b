"""docker-compose.yml, checked as far as a machine without Docker can: it parses, every image is
pinned or built here, every path it names exists, and the Dockerfile copies what exists."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.conftest import REPO

IMAGE_ROOT = "/opt/pluginops/"


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_service_has_a_pinned_or_locally_built_image() -> None:
    for name, service in compose()["services"].items():
        image = service.get("image", "")
        assert "build" in service or any(
            s.get("build") and s.get("image") == image for s in compose()["services"].values()
        ), name
        assert re.match(r"^[\w./-]+:[\w.-]+$", image) and not image.endswith(":latest"), name


def test_paths_inside_the_image_exist_in_the_repository() -> None:
    for service in compose()["services"].values():
        for arg in service.get("command", []):
            if arg.startswith(IMAGE_ROOT):
                assert (REPO / arg.removeprefix(IMAGE_ROOT)).exists(), arg


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes", {}))
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, source


def test_the_dockerfile_copies_only_what_exists() -> None:
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
