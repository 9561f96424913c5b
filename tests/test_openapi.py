"""The API's OpenAPI document describes exactly the app's routes, and schemathesis, generating
requests from it against a real `pluginops serve` with an admin's token, finds no server
error."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.api import execute_lane
from runtime.api.app import ApiConfig, create_app
from runtime.auth.tokens import TokenStore
from tests.conftest import REPO
from tests.install_support import an_installer
from tests.serve_support import running_serve

SPEC = REPO / "schemas" / "openapi.json"
BIN = Path(sys.executable).parent


def test_the_document_describes_every_route_and_nothing_else(tmp_path: Path) -> None:
    """The routes of the app `pluginops serve` builds (over a runtime home), and the execution
    lane's in front of it."""
    app = create_app(ApiConfig(installer=lambda inject_failure=None, requested_by=None:
                               None,  # type: ignore[arg-type,return-value]
                               tokens=TokenStore(tmp_path), ui_home=tmp_path))
    routes = {(re.sub(r"<(\w+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    routes.add((re.sub(r"<(\w+)>", r"{\1}", execute_lane.ROUTE), "post"))
    paths = json.loads(SPEC.read_text())["paths"]
    described = {(path, method) for path, item in paths.items() for method in item
                 if method != "parameters"}
    assert described == routes


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(tmp_path: Path, writable_registry: Path,
                                            signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    assert installer.install("json-transform@1.2.0").state == "committed"
    installer.env.journal.close()
    token, _ = TokenStore(home).create("fuzz-admin", "admin", "tests")
    # a small body limit, so that generated bodies past it meet the 413 the document describes;
    # a body refused for its size is rejected data too
    (tmp_path / "schemathesis.toml").write_text(
        "[checks.negative_data_rejection]\nexpected-statuses = "
        '["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", '
        '"5xx"]\n')
    with running_serve(home, "--registry", str(writable_registry), "--max-body", "512",
                       env={"PLUGINOPS_ALLOW_UNSIGNED": "1"}) as base:
        done = subprocess.run(
            [str(BIN / "schemathesis"), "run", str(SPEC), "--url", base,
             "-H", f"Authorization: Bearer {token}", "--checks",
             "not_a_server_error,status_code_conformance,content_type_conformance,"
             "response_schema_conformance,negative_data_rejection",
             "--max-examples", "25", "--workers", "1", "--phases", "examples,coverage,fuzzing",
             "--suppress-health-check", "all", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        cases = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
        assert cases and cases.group(1) == cases.group(2) and int(cases.group(1)) > 100, \
            done.stdout[-3000:]
        operations = sum(1 for item in json.loads(SPEC.read_text())["paths"].values()
                         for method in item if method != "parameters")
        assert f"{operations} passed" in done.stdout  # every operation exercised
