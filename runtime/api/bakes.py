"""Bakes over the API: an update's `bake` field, and a plugin's bakes.

    POST /v1/plugins/<name>/update  {"version": "2.1.0", "bake": true}
                                    {"bake": {"weight": 0.1, "min_executions": 200}}
                                    (no `bake`: the org policy's `bake.always` decides)
    GET  /v1/plugins/<name>/bake    its bake in progress (or null) and its last decisions
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.bake.store import BAKING, Bakes
from runtime.bake.views import bake_view
from runtime.install.baking import BakeRequest, request_for
from runtime.sandbox.policy import OrgPolicy

FIELDS = {"weight": "a number", "min_executions": "an integer"}


def bake_request(value: Any, policy: OrgPolicy) -> BakeRequest | None:
    """The body's `bake` (absent, a boolean, or an object of FIELDS) as a request."""
    if value is None or isinstance(value, bool):
        return request_for(policy, value)
    if not isinstance(value, dict):
        raise PluginopsError(Code.BAD_REQUEST, "bake must be true, false or an object",
                             where="body.bake", next_step='e.g. {"bake": {"weight": 0.1}}')
    unknown = set(value) - set(FIELDS)
    if unknown:
        raise PluginopsError(Code.BAD_REQUEST, f"unknown field(s): {', '.join(sorted(unknown))}",
                             where="body.bake", next_step=f"allowed: {', '.join(FIELDS)}")
    for key, kind in FIELDS.items():
        given = value.get(key)
        number = isinstance(given, int | float) and not isinstance(given, bool)
        if given is not None and not (number and (key == "weight" or isinstance(given, int))):
            raise PluginopsError(Code.BAD_REQUEST, f"{key} must be {kind}",
                                 where=f"body.bake.{key}",
                                 next_step='e.g. {"weight": 0.1, "min_executions": 200}')
    return request_for(policy, True, value.get("weight"), value.get("min_executions"))


def bake_routes(bakes_db: Path | None) -> Blueprint:
    """The routes over the runtime home's bakes (None: an app without a home has none)."""
    routes = Blueprint("bakes", __name__)

    @routes.get("/v1/plugins/<name>/bake")
    def plugin_bake(name: str) -> Response:
        if bakes_db is None:
            raise PluginopsError(Code.NOT_BAKING, "this app serves no runtime home, so no "
                                 "bakes", where=request.path, http_status=404,
                                 next_step="ask the runtime (`pluginops serve`)")
        limit = request.args.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise PluginopsError(Code.BAD_REQUEST, f"limit {limit[:20]!r} is not 1-1000",
                                 where="limit", next_step="e.g. ?limit=10")
        store = Bakes(bakes_db)
        try:
            found = store.history(name, int(limit))
        finally:
            store.close()
        baking = next((bake_view(b) for b in found if b.state == BAKING), None)
        return jsonify({"plugin": name, "baking": baking,
                        "bakes": [bake_view(b) for b in found]})

    return routes
