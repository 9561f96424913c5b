"""The hosts of a fleet, from a file: either a hosts file

    hosts:
      - {name: a, url: "https://10.0.0.11:8443", token_env: PLUGINOPS_TOKEN_A, ca_file: ca.pem}
      - {name: b, url: "https://10.0.0.12:8443", token_file: /etc/pluginops/b.token}

or a file-based discovery file (what Prometheus and vmagent read: `[{targets: [ADDRESS],
labels: {host: NAME}}]`), whose hosts are reached over plain HTTP with the one token given.
Tokens are never in the file itself."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts import conventions as c
from contracts.codes import Code
from contracts.errors import PluginopsError


@dataclass(frozen=True)
class FleetHost:
    name: str
    url: str
    token: str = field(repr=False)
    ca_file: str | None = None


def _invalid(where: str, message: str) -> PluginopsError:
    return PluginopsError(Code.FLEET_HOSTS_INVALID, message, where=where,
                          next_step="list `hosts: [{name, url, token_env or token_file}]`, "
                                    "or give a discovery file and --token")


def load_hosts(path: Path, token: str | None = None) -> list[FleetHost]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _invalid(str(path), f"cannot read the hosts file: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("hosts"), list):
        hosts = [_listed(item, f"{path}:hosts[{i}]") for i, item in enumerate(data["hosts"])]
    elif isinstance(data, list):
        hosts = [h for i, item in enumerate(data)
                 for h in _discovered(item, f"{path}[{i}]", token)]
    else:
        raise _invalid(str(path), "neither a `hosts:` list nor a discovery file")
    if not hosts:
        raise _invalid(str(path), "no hosts")
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        raise _invalid(str(path), f"a host name is used twice: {sorted(names)}")
    return hosts


def _listed(item: Any, where: str) -> FleetHost:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
            or not isinstance(item.get("url"), str):
        raise _invalid(where, "a host needs a name and a url")
    if not item["url"].startswith(("http://", "https://")):
        raise _invalid(f"{where}.url", f"{item['url']!r} is not an http(s) URL")
    return FleetHost(item["name"], item["url"].rstrip("/"), _token(item, where),
                     item.get("ca_file"))


def _token(item: dict[str, Any], where: str) -> str:
    if isinstance(item.get("token_env"), str):
        value = os.environ.get(item["token_env"], "")
        if not value:
            raise _invalid(f"{where}.token_env", f"${item['token_env']} is not set")
        return value
    if isinstance(item.get("token_file"), str):
        try:
            return Path(item["token_file"]).read_text().strip()
        except OSError as exc:
            raise _invalid(f"{where}.token_file", f"cannot read it: {exc}") from None
    raise _invalid(where, "a host needs token_env or token_file (never the token itself)")


def _discovered(item: Any, where: str, token: str | None) -> list[FleetHost]:
    if not isinstance(item, dict) or not isinstance(item.get("targets"), list):
        raise _invalid(where, "a discovery entry needs targets")
    if not token:
        raise _invalid(where, "hosts from a discovery file need --token (or PLUGINOPS_TOKEN)")
    labels = item.get("labels") or {}
    targets = [str(t) for t in item["targets"]]
    name = labels.get(c.HOST)
    if name is None or len(targets) != 1:
        raise _invalid(where, f"each entry names one target with its `{c.HOST}` label")
    return [FleetHost(str(name), f"http://{targets[0]}", token)]
