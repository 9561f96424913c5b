"""The scorecard over the API.

    GET /v1/kpis            every KPI of the plan: value, previous period, change, target, status
    GET /v1/kpis?at=UNIX    the same, for periods ending at that moment
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Response, jsonify, request

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.kpi import records
from runtime.kpi.compute import scorecard
from runtime.kpi.facts import Facts, IncidentReader
from runtime.registry.index import Registry

RegistryOf = Callable[[], Registry | None]
KpiFacts = Callable[[float], Facts]  # the facts for periods ending at a moment


def kpi_facts(home: Path, registry_of: RegistryOf, production: IncidentReader | None
              ) -> KpiFacts:
    """The facts of a runtime home, with its registry's releases and, when the runtime reads a
    store, the production pages it saw."""
    return lambda at: records.read(home, registry_of(), production, at)


def requested_at(text: str | None) -> float:
    """`?at=` as Unix seconds (now when absent)."""
    if text is None:
        return time.time()
    try:
        at = float(text)
    except ValueError:
        at = -1.0
    if not 0 < at < 1e11:
        raise PluginopsError(Code.BAD_REQUEST, f"at {text[:20]!r} is not a Unix time",
                             where="at", next_step="e.g. ?at=1764460800, or leave it out")
    return at


def kpi_routes(facts_at: KpiFacts) -> Blueprint:
    routes = Blueprint("kpis", __name__)

    @routes.get("/v1/kpis")
    def kpis() -> Response:
        at = requested_at(request.args.get("at"))
        values = scorecard(facts_at(at), at)
        return jsonify({"at": at, "kpis": [v.model_dump() for v in values]})

    return routes
