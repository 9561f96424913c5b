"""The Alertmanager configuration: pages to the pager, tickets to the ticket queue, the Watchdog to
its own receiver; grouped by alert and plugin; a page inhibits the ticket for the same plugin and
SLO. Webhook URLs and timings come from a routing file (`alerts/routing.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from alerts import conventions as c
from contracts.codes import Code
from contracts.errors import PluginopsError


class Routing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    pager_url: str
    tickets_url: str
    watchdog_url: str
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"


def load_routing(path: Path) -> Routing:
    try:
        return Routing.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise PluginopsError(Code.ROUTING_INVALID, str(exc).splitlines()[0][:300], where=str(path),
                             next_step="see alerts/routing.yaml for the fields") from None


def config(routing: Routing) -> dict[str, Any]:
    def hook(url: str) -> list[dict[str, Any]]:
        return [{"url": url, "send_resolved": True, "max_alerts": 0}]

    return {
        "route": {
            "receiver": c.RECEIVER_TICKETS,
            "group_by": ["alertname", c.PLUGIN],
            "group_wait": routing.group_wait,
            "group_interval": routing.group_interval,
            "repeat_interval": routing.repeat_interval,
            "routes": [
                {"receiver": c.RECEIVER_WATCHDOG, "matchers": [f'alertname="{c.WATCHDOG}"'],
                 "group_wait": "0s", "repeat_interval": "1m"},
                {"receiver": c.RECEIVER_PAGER, "matchers": [f'{c.SEVERITY}="{c.PAGE}"']},
                {"receiver": c.RECEIVER_TICKETS, "matchers": [f'{c.SEVERITY}="{c.TICKET}"']},
            ],
        },
        "inhibit_rules": [{
            "source_matchers": [f'{c.SEVERITY}="{c.PAGE}"'],
            "target_matchers": [f'{c.SEVERITY}="{c.TICKET}"'],
            "equal": ["alertname", c.PLUGIN, c.SLO],
        }],
        "receivers": [
            {"name": c.RECEIVER_PAGER, "webhook_configs": hook(routing.pager_url)},
            {"name": c.RECEIVER_TICKETS, "webhook_configs": hook(routing.tickets_url)},
            {"name": c.RECEIVER_WATCHDOG, "webhook_configs": hook(routing.watchdog_url)},
        ],
    }
