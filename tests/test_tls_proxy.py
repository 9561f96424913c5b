"""HTTPS in front of `pluginops serve`: the generated Caddyfile (what compose's `tls` profile
runs), a real Caddy, a real `serve` trusting it as its proxy. Clients speak TLS to the proxy;
the runtime sees each client's own address, so authentication throttling locks out the client
that fails, not everyone behind the proxy."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.codes import Code
from contracts.layout import Layout
from runtime.auth.tokens import TokenStore
from runtime.harness.tls import issue
from runtime.sandbox.audit import AuditLog
from stack.processes import free_port
from tests.conftest import REPO
from tests.serve_support import running_serve

pytestmark = pytest.mark.slow
CADDYFILE = REPO / "deploy" / "caddy" / "Caddyfile"


class Proxy:
    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.port = port
        self.context = context

    def get(self, path: str, token: str = "", client: str = "127.0.0.1"
            ) -> tuple[int, dict[str, str], bytes]:
        """GET over HTTPS from the loopback address `client` (Linux answers all of 127/8)."""
        connection = http.client.HTTPSConnection("localhost", self.port, context=self.context,
                                                 timeout=30, source_address=(client, 0))
        try:
            connection.request("GET", path, headers={"Authorization": f"Bearer {token}"}
                               if token else {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    Layout(home).home.mkdir(parents=True)
    return home


@pytest.fixture
def proxy(tmp_path: Path, home: Path) -> Iterator[Proxy]:
    binary = shutil.which("caddy")
    assert binary, "make test installs Debian's caddy"
    ca, cert, key = issue(tmp_path / "tls", ["localhost"])
    with running_serve(home, "--trusted-proxy", "127.0.0.1") as base:
        port = free_port()
        env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
               "XDG_CONFIG_HOME": str(tmp_path / "config"),
               "PLUGINOPS_TLS_ADDRESS": f":{port}", "PLUGINOPS_TLS_BIND": "127.0.0.1",
               "PLUGINOPS_TLS_CERT": str(cert), "PLUGINOPS_TLS_KEY": str(key),
               "PLUGINOPS_UPSTREAM": base.removeprefix("http://")}
        log = tmp_path / "caddy.log"
        with log.open("w") as out:
            caddy = subprocess.Popen([binary, "run", "--config", str(CADDYFILE),
                                      "--adapter", "caddyfile"], env=env, stdout=out,
                                     stderr=subprocess.STDOUT)
        served = Proxy(port, ssl.create_default_context(cafile=str(ca)))
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if served.get("/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                assert caddy.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            yield served
        finally:
            caddy.terminate()
            caddy.wait(timeout=30)


def test_the_api_is_served_over_https_through_the_generated_proxy_config(
        proxy: Proxy, home: Path) -> None:
    token, _ = TokenStore(home).create("ops", "viewer", "tests")
    status, headers, body = proxy.get("/v1/plugins", token)
    assert status == 200 and json.loads(body) is not None
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    untrusting = Proxy(proxy.port, ssl.create_default_context())  # the system's CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        untrusting.get("/readyz")


def test_behind_the_proxy_a_failing_client_is_throttled_and_the_others_are_not(
        proxy: Proxy, home: Path) -> None:
    good, _ = TokenStore(home).create("ops", "viewer", "tests")
    answers = [proxy.get("/v1/plugins", "po_wrong", client="127.0.0.2")[0] for _ in range(11)]
    assert answers == [401] * 10 + [429]
    status, _, body = proxy.get("/v1/plugins", good, client="127.0.0.2")
    assert status == 429 and json.loads(body)["error"]["code"] == Code.AUTH_THROTTLED
    assert proxy.get("/v1/plugins", good, client="127.0.0.3")[0] == 200
    refused = [r for r in AuditLog(Layout(home).audit_log).records()
               if r["kind"] == "auth.refused"]
    assert {r["key"] for r in refused} == {"client:127.0.0.2"}
