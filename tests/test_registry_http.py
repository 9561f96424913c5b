"""A registry served over HTTPS by a plain static web server: installs check the same digest and
signature, the index is revalidated with its ETag (a 304, no body), a download cut off mid-body
resumes with a Range request, and every network failure has its code with nothing left behind."""

from __future__ import annotations

import functools
import random
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.layout import Layout
from runtime.harness.tls import issue
from runtime.install.environment import open_registry
from runtime.install.service import Installer
from runtime.registry.http import HttpSource
from runtime.registry.index import INDEX_FILE
from stack.processes import free_port
from tests.install_support import an_installer, assert_stable, publish_plugin

PLUGINOPS = str(Path(sys.executable).parent / "pluginops")
# about 330 KB once packed: random hex does not compress below half
BIG = ("DATA = " + repr(random.Random(7).randbytes(330_000).hex())
       + "\ndef run(inputs, ctx):\n    return {'n': len(DATA)}\n")


@dataclass
class Served:
    url: str
    ca: Path
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    cut_after: int | None = None  # artifact bytes sent before the connection is dropped
    cuts_left: int = 0


class _Handler(SimpleHTTPRequestHandler):
    """A static server (with Range support) that can drop an artifact's connection mid-body."""

    served: Served

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.served.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        path = Path(self.translate_path(self.path))
        if self.path.endswith(INDEX_FILE) and path.is_file():
            etag = f'"{path.stat().st_mtime_ns}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if path.suffix == ".gz" and path.is_file():
            data = path.read_bytes()
            start = 0
            wanted = self.headers.get("Range", "")
            if wanted.startswith("bytes="):
                start = int(wanted[6:].split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if self.served.cuts_left and self.served.cut_after is not None:
                self.served.cuts_left -= 1
                self.wfile.write(body[:self.served.cut_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)
            return
        self.send_error(404)


@pytest.fixture
def served(tmp_path: Path, writable_registry: Path,
           signing_key: Ed25519PrivateKey) -> Iterator[Served]:
    publish_plugin(writable_registry, tmp_path / "src", signing_key, "bulky", "1.0.0", BIG)
    ca, cert, key = issue(tmp_path / "tls", ["localhost"])
    port = free_port()
    state = Served(f"https://localhost:{port}", ca)
    handler = type("Handler", (_Handler,), {"served": state})
    server = ThreadingHTTPServer(("127.0.0.1", port),
                                 functools.partial(handler, directory=str(writable_registry)))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def installer_over_http(home: Path, served: Served, key: Ed25519PrivateKey, retries: int = 4
                        ) -> Installer:
    installer = an_installer(home, home / "unused", key)
    installer.env.registry = open_registry(
        HttpSource(served.url, served.ca, timeout_s=5, retries=retries, backoff_s=0.01),
        Layout(home))
    return installer


def test_an_install_from_an_https_registry_checks_and_caches_the_index(
        tmp_path: Path, served: Served, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    (home / "unused").mkdir(parents=True)
    installer = installer_over_http(home, served, signing_key)
    assert installer.install("bulky").state == "committed"
    assert_stable(home, "bulky", "1.0.0")
    # the next reader revalidates the cached index: a 304 and no body
    open_registry(HttpSource(served.url, served.ca), Layout(home))
    index_requests = [h for p, h in served.requests if p.endswith(INDEX_FILE)]
    assert "if-none-match" not in index_requests[0]
    assert index_requests[-1].get("if-none-match")
    # a cached copy that went bad is fetched whole again, not trusted
    cache = Layout(home).registry_cache(served.url)
    (cache / INDEX_FILE).write_text("{broken")
    assert open_registry(HttpSource(served.url, served.ca), Layout(home)).get("bulky", "1.0.0")
    assert "if-none-match" not in served.requests[-1][1]


def test_a_download_cut_off_mid_body_resumes_with_a_range_request(
        tmp_path: Path, served: Served, signing_key: Ed25519PrivateKey) -> None:
    served.cut_after, served.cuts_left = 100_000, 2
    home = tmp_path / "home"
    (home / "unused").mkdir(parents=True)
    installer = installer_over_http(home, served, signing_key)
    assert installer.install("bulky").state == "committed"
    ranges = [h.get("range") for p, h in served.requests if p.endswith(".gz")]
    assert ranges[0] is None and ranges[1:] == ["bytes=100000-", "bytes=200000-"]


def test_a_download_that_keeps_breaking_fails_with_its_code_and_leaves_nothing(
        tmp_path: Path, served: Served, signing_key: Ed25519PrivateKey) -> None:
    served.cut_after, served.cuts_left = 1_000, 100
    home = tmp_path / "home"
    (home / "unused").mkdir(parents=True)
    installer = installer_over_http(home, served, signing_key, retries=2)
    outcome = installer.install("bulky")
    assert outcome.state == "rolled_back"
    assert outcome.failure.code == Code.ARTIFACT_DOWNLOAD_FAILED
    assert_stable(home, "bulky", None)
    staging = Layout(home).staging("any").parent
    assert not staging.exists() or not any(staging.iterdir())


def test_a_certificate_the_ca_file_does_not_vouch_for_is_refused(
        tmp_path: Path, served: Served) -> None:
    home = tmp_path / "home"
    with pytest.raises(PluginopsError) as refused:
        open_registry(HttpSource(served.url, None, retries=0), Layout(home))
    assert refused.value.code == Code.REGISTRY_TLS_FAILED
    assert not Layout(home).registry_cache(served.url).exists()


def test_an_unreachable_registry_fails_after_its_retries(tmp_path: Path) -> None:
    url = f"https://localhost:{free_port()}"
    with pytest.raises(PluginopsError) as refused:
        open_registry(HttpSource(url, retries=2, backoff_s=0.01), Layout(tmp_path))
    assert refused.value.code == Code.REGISTRY_UNREACHABLE


def test_a_url_that_is_not_a_registry_is_an_http_error(tmp_path: Path, served: Served) -> None:
    with pytest.raises(PluginopsError) as refused:
        open_registry(HttpSource(served.url + "/nothing-here", served.ca), Layout(tmp_path))
    assert refused.value.code == Code.REGISTRY_HTTP_ERROR


def test_the_cli_installs_from_an_https_url_with_its_ca_file(
        tmp_path: Path, served: Served, signing_key: Ed25519PrivateKey) -> None:
    home = tmp_path / "home"
    trusted = Layout(home).trusted_keys
    trusted.mkdir(parents=True)
    (trusted / "publisher.pub").write_bytes(signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    done = subprocess.run([PLUGINOPS, "install", "bulky", "--registry", served.url,
                           "--ca-file", str(served.ca), "--home", str(home), "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_stable(home, "bulky", "1.0.0")
    refused = subprocess.run([PLUGINOPS, "publish", str(tmp_path / "src" / "bulky-1.0.0"),
                              "--registry", served.url, "--home", str(home)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "REGISTRY_NOT_FOUND" in refused.stderr
