"""A temporary runtime for one harness run: its own home and registry (a copy of the given one,
plus the plugin's previous versions and the candidate, signed with a key of its own), loopback
stubs for the APIs, model and search the plugin calls (reached through the sandbox's egress
broker, whose name resolution points the declared domains at them), and the real installer and
executor over it all."""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from contracts.layout import Layout
from runtime.harness.golden import Golden
from runtime.harness.tls import issue
from runtime.host import API_VERSIONS, HostDescription, this_host
from runtime.install.environment import installer_env
from runtime.install.phases import Injector
from runtime.install.service import Installer
from runtime.registry import signing
from runtime.registry.publish import publish
from runtime.sandbox.executor import Execution, Executor
from runtime.sandbox.home import executor_deps
from runtime.telemetry.metrics import Metrics
from runtime.telemetry.tracing import make_tracer_provider

AUTHOR = "plugin-author"  # who asks for installs in the harness
APPROVER = "harness-admin"  # a second person, for four-eyes approvals


class Stubs:
    """Loopback servers for every stub: the mock APIs over HTTPS (by Host header, with a
    certificate for their domains from a throwaway CA), the model's chat-completions endpoint
    and the search tool over HTTP. Records what they were asked."""

    def __init__(self, golden: Golden, tls_dir: Path) -> None:
        self.golden = golden
        self.requests: list[dict[str, Any]] = []
        stubs = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                host = (self.headers.get("Host") or "").split(":")[0]
                stubs.requests.append({"method": self.command, "host": host, "path": self.path,
                                       "body": body})
                status, payload = stubs.answer(self.command, host, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        domains = sorted(golden.mock_api) or ["stub.invalid"]
        self.ca_file, cert, key = issue(tls_dir, domains)
        self.tls_server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.tls_server.socket = context.wrap_socket(self.tls_server.socket, server_side=True)
        self.tls_address = f"127.0.0.1:{self.tls_server.server_address[1]}"
        for server in (self.server, self.tls_server):  # a short poll: shutdown returns at once
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                             daemon=True).start()

    def answer(self, method: str, host: str, path: str, body: str) -> tuple[int, Any]:
        if path.endswith("/chat/completions"):
            prompt = " ".join(str(m.get("content", "")) for m in
                              json.loads(body or "{}").get("messages", []))
            reply = next((r.reply for r in self.golden.model if r.when in prompt), "ok")
            return 200, {"choices": [{"message": {"content": reply}}],
                         "usage": {"prompt_tokens": len(prompt) // 4 + 1,
                                   "completion_tokens": len(reply) // 4 + 1}}
        if path.startswith("/search"):
            return 200, {"results": self.golden.search}
        for route in self.golden.mock_api.get(host, []):
            if route.method.upper() == method and route.path == path.split("?")[0]:
                return route.status, route.body
        return 404, {"error": f"no golden route for {method} {host}{path}"}

    def close(self) -> None:
        for server in (self.server, self.tls_server):
            server.shutdown()
            server.server_close()


@dataclass(frozen=True)
class State:
    """What a failed operation must leave exactly as it was."""

    active: str | None
    files: str  # digest of every file under the plugin's folder
    installed: tuple[tuple[str, str], ...]  # (plugin, version) rows of the journal

    def describe(self) -> str:
        return f"active {self.active or 'none'}, {len(self.installed)} installed row(s)"


def install_registry(target: Path, registry: Path | None, previous: list[Path],
                     host: HostDescription, key: Ed25519PrivateKey | None) -> list[str]:
    """The registry a world installs from: a copy of the given one, with the previous
    versions' folders published into it (the versions, in order)."""
    if registry is not None:
        shutil.copytree(registry, target)
    return [publish(folder, target, host, key).version for folder in previous]


class World:
    def __init__(self, root: Path, golden: Golden, candidate: Path, previous: list[Path],
                 registry: Path | None, trust: tuple[Path, ...] = (),
                 host: HostDescription | None = None, policy: Path | None = None) -> None:
        self.root = root
        self.home = root / "home"
        self.registry = root / "registry"
        self.golden = golden
        self.trust = trust
        self.host: HostDescription = host or this_host()
        self.home.mkdir(parents=True)
        if policy is not None and policy.is_file():  # the org policy the plugin will live under
            shutil.copy(policy, Layout(self.home).policy_file)
        private, _, _ = signing.generate(Layout(self.home).keys)
        key = signing.load_private(private)
        self.versions = install_registry(self.registry, registry, previous, self.host, key)
        self.candidate = publish(candidate, self.registry, self.host, key)
        self.stubs = Stubs(golden, root / "tls")
        settings = {"version": 1,
                    "egress": {"resolve": {d: self.stubs.tls_address for d in golden.mock_api},
                               "ca_file": str(self.stubs.ca_file)},
                    "model": {"base_url": f"http://{self.stubs.address}/v1", "model": "golden"},
                    "tools": {"web_search": {"url": f"http://{self.stubs.address}/search"}}}
        Layout(self.home).settings_file.write_text(yaml.safe_dump(settings))
        self.layout = Layout(self.home.absolute())
        self.metrics = Metrics(CollectorRegistry())  # the world's own, like a runtime's
        self.tracer = make_tracer_provider({}).get_tracer("golden-harness")

    @property
    def name(self) -> str:
        return self.candidate.name

    def installer(self, inject_failure: str | None = None) -> Installer:
        return Installer(installer_env(self.home, self.registry, self.host, self.metrics,
                                       self.tracer, AUTHOR, self.trust,
                                       injector=Injector(fail_phase=inject_failure)))

    def execute(self, inputs: Any, files: dict[str, bytes],
                served_api: tuple[str, ...] = API_VERSIONS) -> Execution:
        deps = replace(executor_deps(self.home, self.metrics, self.tracer),
                       served_api=served_api)
        try:
            return Executor(deps).execute(self.name, inputs, files)
        finally:
            deps.pool.close()

    def state(self) -> State:
        installer = self.installer()
        digest = hashlib.sha256()
        folder = self.layout.plugin_dir(self.name)
        if folder.exists():
            for path in sorted(folder.rglob("*")):
                digest.update(str(path.relative_to(folder)).encode())
                if path.is_symlink():
                    digest.update(str(path.readlink()).encode())
                elif path.is_file():
                    digest.update(path.read_bytes())
        rows = tuple(sorted((r.plugin, r.version) for r in installer.env.journal.installed()))
        return State(installer.env.journal.installed_version(self.name), digest.hexdigest(),
                     rows)

    def close(self) -> None:
        self.stubs.close()


@contextmanager
def world(root: Path, golden: Golden, candidate: Path, previous: list[Path],
          registry: Path | None, trust: tuple[Path, ...] = (),
          host: HostDescription | None = None, policy: Path | None = None) -> Iterator[World]:
    made = World(root, golden, candidate, previous, registry, trust, host, policy)
    try:
        yield made
    finally:
        made.close()
