"""Publishing: preflight first, deterministic artifacts, signatures, immutable versions."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.errors import OperationFailed, PluginopsError
from runtime.host import this_host
from runtime.registry import signing
from runtime.registry.index import load_registry
from runtime.registry.pack import pack
from runtime.registry.publish import PreflightRefused, publish
from tests.builders import a_plugin_dir
from tests.conftest import EXAMPLES


def test_packing_twice_gives_the_same_bytes_whatever_the_file_times(tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path)
    first = pack(folder)
    os.utime(folder / "main.py", (1, 1))
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"junk")
    assert pack(folder) == first


def test_the_artifact_holds_the_package_files_with_normalised_owners(tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path)
    (folder / "lib").mkdir()
    (folder / "lib" / "util.py").write_text("X = 1\n")
    with tarfile.open(fileobj=io.BytesIO(pack(folder)), mode="r:gz") as tar:
        members = [(m.name, m.uid, m.mtime, m.mode) for m in tar.getmembers()]
    assert members == [("lib", 0, 0, 0o755), ("lib/util.py", 0, 0, 0o644),
                       ("main.py", 0, 0, 0o644), ("plugin.json", 0, 0, 0o644)]


def test_a_link_in_the_package_is_refused(tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path)
    (folder / "secret").symlink_to("/etc/passwd")
    with pytest.raises(PluginopsError) as err:
        pack(folder)
    assert err.value.code == "PACKAGE_ENTRY_REFUSED"
    assert err.value.where.endswith("secret")


def test_publish_indexes_size_hash_and_a_verifiable_signature(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    done = publish(a_plugin_dir(tmp_path), tmp_path / "reg", this_host(), key)
    artifact = (tmp_path / "reg" / done.entry.artifact).read_bytes()
    assert done.entry.size == len(artifact)
    assert done.entry.sha256 == hashlib.sha256(artifact).hexdigest()
    assert done.entry.key_id == signing.key_id(key.public_key())
    assert done.entry.signature is not None
    assert signing.verify(key.public_key(), done.entry.signature, "acme-http", "1.4.0",
                          done.entry.sha256)
    assert not signing.verify(key.public_key(), done.entry.signature, "acme-http", "1.4.1",
                              done.entry.sha256), "a signature must not move to another version"
    registry = load_registry(tmp_path / "reg")
    published = registry.get("acme-http", "1.4.0")
    assert published is not None and published.manifest.entrypoint == "main:run"


def test_publish_refuses_an_incompatible_plugin_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(PreflightRefused) as err:
        publish(a_plugin_dir(tmp_path, host="^9.0.0"), tmp_path / "reg", this_host(), None)
    assert err.value.code == "PUBLISH_PREFLIGHT_FAILED"
    assert "HOST_RANGE_UNSATISFIED at /host" in err.value.message
    assert err.value.exit_code == 1
    assert sorted(p.name for p in (tmp_path / "reg").iterdir()) == [".lock"]


def test_republishing_identical_content_is_a_no_op(tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path)
    first = publish(folder, tmp_path / "reg", this_host(), None)
    again = publish(folder, tmp_path / "reg", this_host(), None)
    assert again.already_published and again.entry == first.entry


def test_republishing_a_version_with_different_content_is_refused(tmp_path: Path) -> None:
    folder = a_plugin_dir(tmp_path)
    publish(folder, tmp_path / "reg", this_host(), None)
    index_before = (tmp_path / "reg" / "index.json").read_bytes()
    (folder / "main.py").write_text("def run(inputs, ctx):\n    return {}\n")
    with pytest.raises(OperationFailed) as err:
        publish(folder, tmp_path / "reg", this_host(), None)
    assert err.value.code == "PUBLISH_VERSION_EXISTS"
    assert "bump the version" in err.value.next_step
    assert (tmp_path / "reg" / "index.json").read_bytes() == index_before


def test_a_corrupt_index_is_a_structured_error(tmp_path: Path) -> None:
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "index.json").write_text("{not json")
    with pytest.raises(PluginopsError) as err:
        publish(a_plugin_dir(tmp_path), tmp_path / "reg", this_host(), None)
    assert err.value.code == "REGISTRY_INDEX_INVALID"
    assert (tmp_path / "reg" / "index.json").read_text() == "{not json"


def test_every_example_is_published_signed(example_registry: Path) -> None:
    index = json.loads((example_registry / "index.json").read_text())
    published = {(n, v) for n, vs in index["plugins"].items() for v in vs}
    manifests = [json.loads(p.read_text()) for p in (EXAMPLES / "plugins").glob("*/plugin.json")]
    assert published == {(m["name"], m["version"]) for m in manifests}
    assert all(e["signature"] for vs in index["plugins"].values() for e in vs.values())


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    signing.generate(tmp_path)
    assert (tmp_path / "signing.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(PluginopsError) as err:
        signing.generate(tmp_path)
    assert err.value.code == "KEY_EXISTS"
