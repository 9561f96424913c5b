"""Transactional install, update, rollback and uninstall: either the plugin is healthy after an
operation, or the previous known-good state is back, and the history says what happened."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from contracts.catalogue import (
    INSTALL_PHASE_DURATION,
    INSTALL_PHASES,
    INSTALL_TRANSACTIONS,
    ROLLBACKS,
    Span,
)
from contracts.errors import OperationFailed
from contracts.layout import Layout
from runtime.install.extract import UnsafeArchive, extract
from runtime.telemetry.journal_metrics import JournalMetrics
from tests.install_support import an_env, an_installer, assert_stable, publish_plugin

GOOD = 'def run(inputs, ctx):\n    return {"ok": True}\n'
UNHEALTHY = GOOD + "def health(ctx):\n    return False\n"


def test_install_commits_every_phase_and_activates_the_version(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    installer = an_installer(tmp_path / "home", writable_registry, signing_key)
    outcome = installer.install("json-transform@^1")
    assert (outcome.state, outcome.message) == ("committed", "Installed json-transform 1.2.0")
    assert_stable(tmp_path / "home", "json-transform", "1.2.0")
    (entry,) = installer.history("json-transform")
    assert entry["outcome"] == "committed" and entry["tx_id"] == outcome.tx_id
    assert [(p["phase"], p["outcome"]) for p in entry["phases"]] == [
        (phase, "completed") for phase in INSTALL_PHASES]
    assert not any((tmp_path / "home" / "staging").iterdir())


@pytest.mark.parametrize("phase", INSTALL_PHASES)
def test_a_failed_update_leaves_the_previous_version_active_and_runnable(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey,
        phase: str) -> None:
    home = tmp_path / "home"
    an_installer(home, writable_registry, signing_key).install("json-transform@1.2.0")
    outcome = an_installer(home, writable_registry, signing_key, fail=phase).update(
        "json-transform")
    assert outcome.state == "rolled_back"
    assert outcome.message == f"Rolled back to v1.2.0: failure injected into phase {phase}"
    assert_stable(home, "json-transform", "1.2.0")
    assert not Layout(home).version_dir("json-transform", "2.0.0").exists(), \
        "the rollback removes what the failed transaction created"
    latest = an_installer(home, writable_registry, signing_key).history("json-transform")[0]
    assert latest["rollback"] == {"phase": phase, "reason": "INJECTED_FAILURE",
                                  "active_version": "1.2.0", "at": latest["rollback"]["at"]}
    assert Path(latest["log"]).read_text().count("rolling back: INJECTED_FAILURE") == 1


@pytest.mark.parametrize("phase", INSTALL_PHASES)
def test_a_failed_first_install_leaves_nothing_behind_but_its_log(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey,
        phase: str) -> None:
    home = tmp_path / "home"
    outcome = an_installer(home, writable_registry, signing_key, fail=phase).install(
        "research-agent")
    assert outcome.message.startswith("Rolled back to not installed: ")
    assert_stable(home, "research-agent", None)
    assert_stable(home, "summarizer-agent", None)
    assert not (home / "plugins").exists() or not any((home / "plugins").iterdir())
    assert (home / "logs" / f"{outcome.tx_id}.log").exists()


def test_dependencies_are_installed_inside_the_same_transaction(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    outcome = an_installer(home, writable_registry, signing_key).install("research-agent")
    assert outcome.state == "committed"
    assert_stable(home, "summarizer-agent", "0.9.0")
    statuses = {s.plugin: s for s in an_installer(home, writable_registry, None).status()}
    assert statuses["summarizer-agent"].since_tx == outcome.tx_id


def test_an_unhealthy_new_version_is_rolled_back_with_its_reason(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "flaky", "1.0.0", GOOD)
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "flaky", "1.1.0", UNHEALTHY)
    installer = an_installer(home, writable_registry, signing_key)
    assert installer.install("flaky@1.0.0").state == "committed"
    outcome = installer.update("flaky")
    assert outcome.message == ("Rolled back to v1.0.0: health check failed: health hook "
                               "returned False")
    assert outcome.failure is not None and outcome.failure.code == "HEALTH_CHECK_FAILED"
    assert_stable(home, "flaky", "1.0.0")


def test_a_plugin_that_cannot_import_fails_its_health_check(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "broken", "1.0.0",
                   "import does_not_exist\n" + GOOD)
    outcome = an_installer(tmp_path / "home", writable_registry, signing_key).install("broken")
    assert outcome.failure is not None
    assert outcome.failure.message == ("health check failed: ModuleNotFoundError: No module "
                                       "named 'does_not_exist'")


def test_a_hanging_health_hook_times_out(tmp_path: Path, writable_registry: Path,
                                         signing_key: Ed25519PrivateKey) -> None:
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "hangs", "1.0.0",
                   GOOD + "def health(ctx):\n    import time\n    time.sleep(60)\n")
    installer = an_installer(tmp_path / "home", writable_registry, signing_key,
                             health_timeout=0.5)
    outcome = installer.install("hangs")
    assert outcome.failure is not None
    assert outcome.failure.message == "health check failed: health check timed out after 0.5 s"


@pytest.mark.parametrize(("tamper", "code"), [
    pytest.param("bytes", "SHA256_MISMATCH", id="an altered artifact of the same size"),
    pytest.param("unsigned", "SIGNATURE_MISSING", id="an unsigned artifact"),
    pytest.param("untrusted", "UNTRUSTED_KEY", id="a key nobody trusts here"),
    pytest.param("signature", "SIGNATURE_INVALID", id="a signature for other content"),
    pytest.param("manifest", "MANIFEST_MISMATCH", id="an index that lies about the manifest"),
])
def test_verify_refuses_what_it_cannot_trust(tmp_path: Path, writable_registry: Path,
                                             signing_key: Ed25519PrivateKey, tamper: str,
                                             code: str) -> None:
    index_path = writable_registry / "index.json"
    index = json.loads(index_path.read_text())
    entry = index["plugins"]["json-transform"]["1.2.0"]
    trusted: Ed25519PrivateKey | None = signing_key
    if tamper == "bytes":
        artifact = writable_registry / entry["artifact"]
        data = bytearray(artifact.read_bytes())
        data[-10] ^= 0xFF
        artifact.write_bytes(bytes(data))
    elif tamper == "unsigned":
        entry["signature"] = entry["key_id"] = None
    elif tamper == "untrusted":
        trusted = Ed25519PrivateKey.generate()
    elif tamper == "signature":
        entry["signature"] = index["plugins"]["json-transform"]["2.0.0"]["signature"]
    else:
        entry["manifest"]["description"] = "something else"
    index_path.write_text(json.dumps(index))
    outcome = an_installer(tmp_path / "home", writable_registry, trusted).install(
        "json-transform@1.2.0")
    assert outcome.failure is not None
    assert (outcome.failure.phase, outcome.failure.code) == ("verify", code)
    assert_stable(tmp_path / "home", "json-transform", None)


def test_unsigned_artifacts_install_only_when_policy_allows(
        tmp_path: Path, writable_registry: Path) -> None:
    publish_plugin(writable_registry, tmp_path / "src", None, "plain", "1.0.0", GOOD)
    refused = an_installer(tmp_path / "a", writable_registry, None).install("plain")
    assert refused.failure is not None and refused.failure.code == "SIGNATURE_MISSING"
    allowed = an_installer(tmp_path / "b", writable_registry, None,
                           allow_unsigned=True).install("plain")
    assert allowed.state == "committed"


def _tar(entries: list[tarfile.TarInfo], payload: bytes = b"") -> io.BytesIO:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info in entries:
            tar.addfile(info, io.BytesIO(payload) if info.isfile() else None)
    raw.seek(0)
    return raw


def _entry(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0,
           link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


@pytest.mark.parametrize("entry", [
    pytest.param(_entry("/etc/evil"), id="an absolute path"),
    pytest.param(_entry("../evil"), id="a path climbing out"),
    pytest.param(_entry("a/../../evil"), id="a path climbing out from inside"),
    pytest.param(_entry("link", tarfile.SYMTYPE, link="/etc/passwd"), id="a symlink"),
    pytest.param(_entry("hard", tarfile.LNKTYPE, link="../x"), id="a hard link"),
    pytest.param(_entry("dev", tarfile.CHRTYPE), id="a device file"),
    pytest.param(_entry("fifo", tarfile.FIFOTYPE), id="a fifo"),
])
def test_safe_extraction_refuses_dangerous_entries(tmp_path: Path,
                                                   entry: tarfile.TarInfo) -> None:
    with pytest.raises(UnsafeArchive):
        extract(_tar([entry]), tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not Path("/etc/evil").exists()


def test_a_decompression_bomb_is_refused_at_the_cap_not_unpacked(tmp_path: Path) -> None:
    size = 64 * 1024 * 1024
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    raw.seek(0)
    assert len(raw.getvalue()) < size // 500, "the bomb is small compressed"
    with pytest.raises(UnsafeArchive, match="unpacks to more than 8388608 bytes"):
        extract(raw, tmp_path / "out", max_bytes=8 * 1024 * 1024)


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match="more than 5 entries"):
        extract(_tar([_entry(f"f{i}") for i in range(6)]), tmp_path / "out", max_entries=5)


def test_rollback_returns_to_the_previous_version_without_the_registry(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    installer.install("json-transform@1.2.0")
    installer.update("json-transform")
    installer.env.registry = None
    outcome = installer.rollback("json-transform")
    assert (outcome.state, outcome.message) == ("committed", "Rolled back json-transform 1.2.0")
    assert_stable(home, "json-transform", "1.2.0")
    assert [p["phase"] for p in installer.history("json-transform")[0]["phases"]] == [
        "verify", "activate", "health-check"]


def test_rollback_refuses_a_damaged_version_folder(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    installer.install("json-transform@1.2.0")
    installer.update("json-transform")
    (Layout(home).version_dir("json-transform", "1.2.0") / "transform.py").write_text("x = 1\n")
    outcome = installer.rollback("json-transform")
    assert outcome.failure is not None and outcome.failure.code == "VERSION_FOLDER_DAMAGED"
    assert_stable(home, "json-transform", "2.0.0")


def test_uninstall_refuses_while_a_dependent_is_installed(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    installer = an_installer(home, writable_registry, signing_key)
    installer.install("research-agent")
    with pytest.raises(OperationFailed) as err:
        installer.uninstall("summarizer-agent")
    assert (err.value.code, err.value.next_step) == ("HAS_DEPENDENTS",
                                                     "uninstall research-agent first")
    assert installer.uninstall("research-agent").state == "committed"
    assert installer.uninstall("summarizer-agent").state == "committed"
    assert not (home / "plugins" / "summarizer-agent").exists()
    assert_stable(home, "summarizer-agent", None)


@pytest.mark.parametrize(("call", "code"), [
    pytest.param(lambda i: i.install("no-such-plugin"), "PLUGIN_NOT_IN_REGISTRY",
                 id="an unknown plugin"),
    pytest.param(lambda i: i.install("json-transform@^7"), "NO_MATCHING_VERSION",
                 id="a range nothing matches"),
    pytest.param(lambda i: i.install("Bad Name"), "PLUGIN_NAME_INVALID", id="a bad name"),
    pytest.param(lambda i: i.install("json-transform@>>1"), "VERSION_SPEC_INVALID",
                 id="a bad range"),
    pytest.param(lambda i: i.update("json-transform"), "NOT_INSTALLED",
                 id="updating what is not installed"),
    pytest.param(lambda i: i.rollback("json-transform"), "NOT_INSTALLED",
                 id="rolling back what is not installed"),
])
def test_refusals_start_no_transaction(tmp_path: Path, writable_registry: Path,
                                       signing_key: Ed25519PrivateKey, call: object,
                                       code: str) -> None:
    installer = an_installer(tmp_path / "home", writable_registry, signing_key)
    with pytest.raises(Exception) as err:
        call(installer)  # type: ignore[operator]
    assert getattr(err.value, "code", None) == code
    assert installer.history() == []


def test_each_transaction_is_one_trace_with_a_span_per_phase_and_counts(
        tmp_path: Path, writable_registry: Path, signing_key: Ed25519PrivateKey) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    env = an_env(tmp_path / "home", writable_registry, signing_key, spans=spans)
    from runtime.install.phases import Injector
    from runtime.install.service import Installer

    installer = Installer(env)
    done = installer.install("json-transform@1.2.0")
    env.injector = Injector(fail_phase="activate")
    installer.update("json-transform")
    finished = spans.get_finished_spans()
    roots = [s for s in finished if s.name == Span.INSTALL_TRANSACTION]
    assert len(roots) == 2
    assert (roots[0].attributes or {})[Span.ATTR_CORRELATION_ID] == done.tx_id
    phases = [s for s in finished if s.name == Span.INSTALL_PHASE
              and s.context.trace_id == roots[0].context.trace_id]
    assert [(s.attributes or {})[Span.ATTR_PHASE] for s in phases] == list(INSTALL_PHASES)
    registry = CollectorRegistry()  # the counters come from the journal, read at scrape time
    registry.register(JournalMetrics(env.layout.journal))
    assert registry.get_sample_value(INSTALL_TRANSACTIONS.name, {
        "plugin": "json-transform", "operation": "install", "outcome": "committed"}) == 1
    assert registry.get_sample_value(ROLLBACKS.name, {
        "plugin": "json-transform", "phase": "activate", "reason": "INJECTED_FAILURE"}) == 1
    # phase durations too: the install's five phases and the update's first three completed

    def completed(phase: str) -> float | None:
        return registry.get_sample_value(f"{INSTALL_PHASE_DURATION.name}_count",
                                         {"phase": phase})

    assert [completed(p) for p in INSTALL_PHASES] == [2, 2, 2, 1, 1]
    recorded = [e.detail["duration_s"] for e in env.journal.events(done.tx_id)
                if e.kind == "phase_completed"]
    assert sum(registry.get_sample_value(f"{INSTALL_PHASE_DURATION.name}_sum", {"phase": p})
               or 0 for p in INSTALL_PHASES) >= sum(recorded) > 0
    installer.update("json-transform")  # fails at activate again; the next scrape reads it
    assert [completed(p) for p in INSTALL_PHASES] == [3, 3, 3, 1, 1]
