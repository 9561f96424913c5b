"""Activation is durable in order: every extracted file and folder is fsynced before the version
folder is named, the versions folder after the rename, and the pointer's folder after the swap.
A recorder of the file operations (the real ones still happen) shows the order."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.layout import Layout
from runtime.host import this_host
from runtime.registry.publish import publish
from tests.install_support import an_installer


class Recorder:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str, str]] = []
        real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

        def fsync(fd: int) -> None:
            self.events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), ""))
            real_fsync(fd)

        def rename(src: str, dst: str) -> None:
            self.events.append(("rename", str(src), str(dst)))
            real_rename(src, dst)

        def replace(src: str, dst: str) -> None:
            self.events.append(("replace", str(src), str(dst)))
            real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(os, "replace", replace)

    def index(self, kind: str, first: str, second: str = "", after: int = -1) -> int:
        """Where the first such operation after `after` happened."""
        for at, event in enumerate(self.events):
            if at > after and event[0] == kind and event[1] == first and \
                    (not second or event[2] == second):
                return at
        raise AssertionError(f"no {kind} of {first} {second}: {self.events}")


def test_files_folders_rename_and_pointer_are_synced_in_order(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = (tmp_path / "home").resolve()
    source = tmp_path / "src" / "durable"
    (source / "data").mkdir(parents=True)
    (source / "plugin.json").write_text(json.dumps({
        "name": "durable", "version": "1.0.0", "type": "node", "host": "^2.0.0", "api": "4.0",
        "entrypoint": "main:run"}))
    (source / "main.py").write_text("def run(inputs, ctx):\n    return inputs\n")
    (source / "data" / "table.csv").write_text("a,b\n1,2\n")
    publish(source, writable_registry, this_host(), signing_key)
    installer = an_installer(home, writable_registry, signing_key)
    recorder = Recorder(monkeypatch)

    assert installer.install("durable").state == "committed"

    layout = Layout(home)
    target = str(layout.version_dir("durable", "1.0.0"))
    renamed = next(e for e in recorder.events if e[0] == "rename" and e[2] == target)
    staged = renamed[1]
    moved = recorder.index("rename", staged, target)
    files = sorted(p.relative_to(target) for p in Path(target).rglob("*"))
    assert Path("data/table.csv") in files and Path("plugin.json") in files
    for relative in files:  # each file and folder, under its staged name, before the rename
        assert recorder.index("fsync", os.path.join(staged, relative)) < moved, relative
    assert recorder.index("fsync", staged) < moved
    named = recorder.index("fsync", str(Path(target).parent), after=moved)
    link = str(layout.current("durable"))
    swapped = next(at for at, e in enumerate(recorder.events)
                   if e[0] == "replace" and e[2] == link)
    assert swapped > named
    recorder.index("fsync", str(Path(link).parent), after=swapped)
