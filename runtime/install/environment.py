"""The installer's collaborators over a state folder: the trusted keys (the home's, its own
public key, any given), the org policy, the journal and approvals, and a sandbox executor for
health checks unless the caller serves one. Metrics, tracer, failure injector and reporter are
the caller's: the command line passes its process-wide ones (`pluginops.cli.wiring`), the golden
harness its world's."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from opentelemetry import trace

from contracts.layout import Layout
from runtime.host import HostDescription
from runtime.install.context import Env, HealthDoor
from runtime.install.journal import Journal
from runtime.install.phases import Injector, Reporter, SilentReporter
from runtime.registry import signing
from runtime.registry.http import HttpSource
from runtime.registry.index import Registry, load_registry
from runtime.registry.remote import load_remote_registry
from runtime.sandbox import home as sandbox_home
from runtime.sandbox.approvals import Approvals
from runtime.sandbox.policy import load_policy
from runtime.telemetry.metrics import Metrics


def trusted_keys(layout: Layout, trust: tuple[Path, ...] = ()) -> dict[str, Ed25519PublicKey]:
    """The publisher keys installs accept: the home's, the extra ones given, its own."""
    keys: dict[str, Ed25519PublicKey] = {}
    candidates = [*sorted(layout.trusted_keys.glob("*.pub")), *trust]
    if layout.own_public_key.is_file():
        candidates.append(layout.own_public_key)
    for path in candidates:
        key = signing.load_public(path)
        keys[signing.key_id(key)] = key
    return keys


def open_registry(location: Path | HttpSource, layout: Layout) -> Registry:
    """A folder registry, or an HTTP one (its index cached under the home)."""
    if isinstance(location, HttpSource):
        return load_remote_registry(location, layout.registry_cache(location.url))
    return load_registry(location)


def installer_env(home: Path, registry: Path | HttpSource | None, host: HostDescription,
                  metrics: Metrics, tracer: trace.Tracer, requested_by: str,
                  trust: tuple[Path, ...] = (),
                  allow_unsigned: bool = False, injector: Injector | None = None,
                  reporter: Reporter | None = None, health: HealthDoor | None = None) -> Env:
    layout = Layout(home.absolute())
    policy = load_policy(layout.home)
    journal, approvals = Journal(layout.journal), Approvals(layout.approvals_db)
    if health is None:
        health = sandbox_home.executor_for(layout.home, metrics, tracer, journal, approvals,
                                           policy).health
    return Env(layout=layout, journal=journal, host=host, metrics=metrics, tracer=tracer,
               registry=open_registry(registry, layout) if registry else None,
               trusted_keys=trusted_keys(layout, trust),
               allow_unsigned=allow_unsigned or policy.allow_unsigned,
               injector=injector or Injector(), reporter=reporter or SilentReporter(),
               approvals=approvals, policy=policy, requested_by=requested_by, health=health)
