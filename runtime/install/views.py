"""JSON views of outcomes and statuses, shared by the CLI and the HTTP API."""

from __future__ import annotations

from typing import Any

from runtime.install.service import PluginStatus
from runtime.install.transaction import Outcome

VERBS = {"install": "Installing", "update": "Updating", "rollback": "Rolling back",
         "uninstall": "Uninstalling"}


def outcome_view(outcome: Outcome) -> dict[str, Any]:
    failure = outcome.failure
    return {
        "tx_id": outcome.tx_id or None, "plugin": outcome.plugin,
        "operation": outcome.operation, "outcome": outcome.state,
        "from_version": outcome.from_version, "to_version": outcome.to_version,
        "active_version": outcome.active_version, "message": outcome.message,
        "error": ({"phase": failure.phase, "code": failure.code, "message": failure.message,
                   "next_step": failure.next_step} if failure else None),
    }


def status_view(item: PluginStatus) -> dict[str, Any]:
    flight = item.in_flight
    in_flight = None
    if flight is not None:
        what = f"{item.plugin} {flight.version}" if flight.version else item.plugin
        where = (f"phase {flight.index}/{flight.total}: {flight.phase}" if flight.phase
                 else "starting")
        in_flight = {"tx_id": flight.tx_id, "operation": flight.operation,
                     "version": flight.version, "phase": flight.phase,
                     "phase_index": flight.index, "phases": flight.total, "pid": flight.pid,
                     "age_s": round(flight.age_s, 3),
                     "line": f"{VERBS[flight.operation]} {what} ({where})"}
    return {"plugin": item.plugin, "state": item.state, "version": item.version,
            "type": item.type, "since_tx": item.since_tx, "in_flight": in_flight,
            "last_transaction": item.last_outcome or None}
