"""Generated files are committed, stamped, and never stale."""

from __future__ import annotations

import json

import jsonschema
import pytest

from pluginops.generated import GENERATED
from runtime.manifest.model import Manifest
from tests.builders import a_manifest
from tests.conftest import EXAMPLES, REPO


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_committed_file_matches_what_the_code_generates(rel: str) -> None:
    path = REPO / rel
    assert path.exists(), f"{rel} is missing: run `pluginops generate`"
    assert path.read_text() == GENERATED[rel](), f"{rel} is stale: run `pluginops generate`"


@pytest.mark.parametrize("rel", sorted(GENERATED))
def test_generated_files_are_stamped(rel: str) -> None:
    assert "DO NOT EDIT" in (REPO / rel).read_text()[:400]


def test_the_json_schema_accepts_every_example_and_refuses_what_the_model_refuses() -> None:
    schema = json.loads((REPO / "schemas" / "plugin-manifest.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for path in (EXAMPLES / "plugins").glob("*/plugin.json"):
        data = json.loads(path.read_text())
        Manifest.model_validate(data)
        assert list(validator.iter_errors(data)) == [], path
    for bad in (a_manifest(extra=1), a_manifest(name="Bad Name"), a_manifest(type="widget"),
                a_manifest(entrypoint=None), a_manifest(api=4), a_manifest(api="4"),
                a_manifest(version="v1.0.0"), a_manifest(entrypoint="main")):
        assert list(validator.iter_errors(bad)), bad
