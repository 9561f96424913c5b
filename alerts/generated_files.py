"""The committed outputs of this package, for `pluginops generate` and `pluginops rules`."""

from __future__ import annotations

from pathlib import Path

from alerts.alertmanager import config, load_routing
from alerts.render import to_yaml
from alerts.rules import generate
from alerts.spec import load_slos

HERE = Path(__file__).resolve().parent
SLO_DIR = HERE / "slos"
ROUTING = HERE / "routing.yaml"


def rules_yaml() -> str:
    return to_yaml(generate(load_slos(SLO_DIR)))


def alertmanager_yaml() -> str:
    return to_yaml(config(load_routing(ROUTING)))
