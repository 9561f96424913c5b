"""Every path under the state folder comes from one object, `contracts.layout.Layout`: no other
module of the project spells a state file's name."""

from __future__ import annotations

import ast
from pathlib import Path

from contracts.layout import Layout
from tests.conftest import REPO
from tests.test_layers import ALLOWED

HOME = Path("/h")
LAYOUT = Layout(HOME)
# the names of the state folder's own files, as the layout spells them
STATE_NAMES = {p.name for p in (
    LAYOUT.journal, LAYOUT.approvals_db, LAYOUT.metering_db, LAYOUT.identities_db,
    LAYOUT.tokens_db, LAYOUT.audit_log, LAYOUT.settings_file, LAYOUT.policy_file,
    LAYOUT.policy_history, LAYOUT.policy_lock, LAYOUT.gate_key, LAYOUT.session_key,
    LAYOUT.own_private_key, LAYOUT.own_public_key)}


def spelled_state_paths(root: Path) -> list[str]:
    found = []
    for package in ALLOWED:
        for path in sorted((root / package).rglob("*.py")):
            if path == root / "contracts" / "layout.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in STATE_NAMES:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value}")
    return found


def test_the_layout_names_every_state_file_once() -> None:
    assert len(STATE_NAMES) == 14
    assert spelled_state_paths(REPO) == []


def test_a_state_path_spelled_elsewhere_is_caught(tmp_path: Path) -> None:
    (tmp_path / "pluginops").mkdir()
    (tmp_path / "pluginops" / "shortcut.py").write_text('AUDIT = "audit.log"\n')
    assert spelled_state_paths(tmp_path) == ["pluginops/shortcut.py:1: audit.log"]


def test_every_state_path_is_under_the_home() -> None:
    paths = [getattr(LAYOUT, name) for name in dir(Layout)
             if isinstance(getattr(Layout, name), property)]
    paths += [LAYOUT.version_dir("p", "1.0.0"), LAYOUT.tree_file("p", "1.0.0"),
              LAYOUT.current("p"), LAYOUT.staging("tx"), LAYOUT.lock("p"), LAYOUT.log("tx"),
              LAYOUT.run_dir("p", "1.0.0"), LAYOUT.gate_record("p", "1.0.0")]
    assert all(HOME in p.parents for p in paths)
    assert len(set(paths)) == len(paths)
