"""`pluginops publish` and `pluginops keygen`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from contracts.catalogue import Span
from contracts.codes import Code
from contracts.errors import OperationFailed, PluginopsError
from contracts.layout import Layout
from pluginops.cli import wiring
from pluginops.cli.common import (
    emit_json,
    format_option,
    handles_errors,
    home_option,
    note,
    registry_folder,
)
from pluginops.cli.preflight_cmd import render_text, resolve_host
from runtime.preflight.findings import PreflightReport
from runtime.registry import signing
from runtime.registry.order import publish_order
from runtime.registry.publish import PreflightRefused, Published
from runtime.registry.publish import publish as publish_plugin
from runtime.sandbox.audit import AuditLog
from runtime.sandbox.policy import load_policy

if TYPE_CHECKING:
    from runtime.harness.gate import Verdict


def _default_key(home: Path) -> Path | None:
    path = Layout(home).own_private_key
    return path if path.is_file() else None


@click.command()
@click.argument("plugin_dirs", nargs=-1, required=True,
                type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--registry", metavar="DIR",
              help="Registry folder (default: $PLUGINOPS_REGISTRY, then <home>/registry); "
                   "any static web server can then serve it to `--registry https://...`.")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Ed25519 private key (default: <home>/keys/signing.key if present).")
@click.option("--host", "host_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--host-version")
@click.option("--force", is_flag=True,
              help="Publish without a passing release gate for these bytes (needs --reason; "
                   "the override goes into the audit log).")
@click.option("--reason", default="", help="Why the release gate is overridden.")
@format_option
@home_option
@handles_errors
def publish(plugin_dirs: tuple[Path, ...], registry: str | None, key: Path | None,
            host_file: Path | None, host_version: str | None, force: bool, reason: str,
            fmt: str, home: Path) -> None:
    """Preflight, pack, hash, sign and index plugin folders (dependencies first). Each needs a
    passing release gate (`pluginops release-gate`) made on this host for exactly these bytes,
    unless the org policy makes the gate advisory or it is overridden with --force --reason."""
    target = registry_folder(registry, home) or Layout(home).default_registry
    key_path = key or _default_key(home)
    private = signing.load_private(key_path) if key_path else None
    if private is None:
        note("warning: no signing key; publishing unsigned (installs refuse it unless policy "
             "allows). Create one with `pluginops keygen`.")
    host = resolve_host(host_file, host_version)
    ordered = publish_order(list(plugin_dirs))
    # every gate is judged before anything is written: one refused plugin publishes none
    ungated = {plugin_dir: check_gate(plugin_dir, home, force, reason) for plugin_dir in ordered}
    summaries = []
    for plugin_dir in ordered:
        with wiring.tracer().start_as_current_span(Span.PUBLISH):
            try:
                done = publish_plugin(plugin_dir, target, host, private)
            except PreflightRefused as refused:
                if fmt == "text":
                    click.echo(render_text(PreflightReport(results=[refused.result])), err=True)
                raise
        verdict = ungated[plugin_dir]
        if verdict is not None and not done.already_published:
            _audit_ungated(home, done, verdict, force, reason)
        summaries.append(_summary(done, target))
        if fmt == "text":
            click.echo(_describe(done, target))
    wiring.shutdown()
    if fmt == "json":
        emit_json({"published": summaries})


def check_gate(plugin_dir: Path, home: Path, force: bool, reason: str) -> Verdict | None:
    """None when these bytes have a passing release gate made on this host; the verdict when
    they do not but may still be published (the org policy's `release_gate: advisory`, or
    --force with --reason); otherwise the refusal, raised before anything is written."""
    from runtime.harness.gate import verdict_for
    from runtime.harness.run import digest_of
    from runtime.harness.scenarios import load_manifest

    manifest = load_manifest(plugin_dir)
    verdict = verdict_for(home, manifest.name, manifest.version, digest_of(plugin_dir))
    if verdict.ok:
        return None
    if not force and load_policy(home).release_gate != "advisory":
        raise OperationFailed(
            verdict.code, verdict.message, where=str(plugin_dir),
            next_step=("fix the failing scenarios and rerun " if verdict.problem == "failed"
                       else "run ") + f"`pluginops release-gate {plugin_dir} --home {home}` "
                       "on this host, or publish with --force --reason '...' (audited)")
    if force and not reason.strip():
        raise PluginopsError(Code.REASON_REQUIRED, "--force needs --reason", where="--reason",
                             next_step="say why the release gate is overridden")
    return verdict


def _audit_ungated(home: Path, done: Published, verdict: Verdict, force: bool,
                   reason: str) -> None:
    kind = "release_gate.override" if force else "release_gate.advisory"
    AuditLog(Layout(home).audit_log).event(
        kind, plugin=done.name, version=done.version, sha256=done.entry.sha256,
        problem=verdict.code, detail=verdict.message, failed=list(verdict.failed),
        by=wiring.current_user(),
        reason=reason if force else "org policy: release_gate is advisory")
    note(f"warning: published without a passing release gate ({verdict.message}); recorded "
         "in the audit log")


def _summary(done: Published, target: Path) -> dict[str, object]:
    return {"plugin": done.name, "version": done.version, "registry": str(target),
            "artifact": done.entry.artifact, "size": done.entry.size,
            "sha256": done.entry.sha256, "signed": done.entry.signature is not None,
            "key_id": done.entry.key_id, "already_published": done.already_published}


def _describe(done: Published, target: Path) -> str:
    verb = "already published, identical" if done.already_published else "published"
    signed = f"signed by {done.entry.key_id}" if done.entry.signature else "unsigned"
    return (f"{done.name} {done.version} {verb}: {target / done.entry.artifact} "
            f"({done.entry.size} bytes, sha256 {done.entry.sha256[:16]}…, {signed})")


@click.command()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for signing.key and signing.pub (default: <home>/keys).")
@click.option("--force", is_flag=True, help="Replace an existing key.")
@format_option
@home_option
@handles_errors
def keygen(out: Path | None, force: bool, fmt: str, home: Path) -> None:
    """Create an Ed25519 signing key pair for publishing."""
    folder = out or Layout(home).keys
    if folder.exists() and not folder.is_dir():
        raise PluginopsError("USAGE", "not a folder", where=str(folder),
                             next_step="pass a folder for the key pair")
    private, public, kid = signing.generate(folder, overwrite=force)
    if fmt == "json":
        emit_json({"private_key": str(private), "public_key": str(public), "key_id": kid})
    else:
        click.echo(f"key {kid}: private {private} (keep secret), public {public} (give to "
                   "installers as a trusted key)")
