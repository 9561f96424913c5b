"""SLO trends over the API, read from the metrics store the runtime was started with.

    GET /v1/plugins/<name>/slo?window=7d|30d   the plugin's SLO figures over the window, over
                                               the window before, the change, and points of both
    GET /v1/fleet/slo?window=7d|30d            the same for every plugin together
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.install.select import check_name

TrendReader = Callable[[str | None, str], dict[str, Any]]  # (plugin, or None: the fleet; window)
WINDOWS = ("7d", "30d")


def window_of(text: str | None) -> str:
    window = text or WINDOWS[0]
    if window not in WINDOWS:
        raise PluginopsError(Code.BAD_REQUEST, f"window {window[:20]!r} is not one of "
                             f"{', '.join(WINDOWS)}", where="window",
                             next_step="e.g. ?window=30d")
    return window


def read_trends(reader: TrendReader | None, plugin: str | None, window: str) -> dict[str, Any]:
    """The trend document, or a structured error: no store (404), the store failing (502)."""
    if reader is None:
        raise PluginopsError(Code.METRICS_STORE_MISSING, "this runtime was started without a "
                             "metrics store", where="--prometheus-url", http_status=404)
    try:
        return reader(plugin, window)
    except PluginopsError as err:  # the store's failure, not the caller's request
        raise PluginopsError(err.code, err.message, where="metrics store",
                             next_step=err.next_step, http_status=502) from None


def trend_routes(reader: TrendReader | None) -> Blueprint:
    routes = Blueprint("trends", __name__)

    @routes.get("/v1/plugins/<name>/slo")
    def plugin_trends(name: str) -> Response:
        check_name(name, "name")
        return jsonify(read_trends(reader, name, window_of(request.args.get("window"))))

    @routes.get("/v1/fleet/slo")
    def fleet_trends() -> Response:
        return jsonify(read_trends(reader, None, window_of(request.args.get("window"))))

    return routes


def figure_text(value: float | None, unit: str) -> str:
    """A trend figure in its unit: `99.95%`, `120 ms`, `$0.0031`, `1,204`."""
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "seconds":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "usd":
        return f"${value:.4f}" if value < 1 else f"${value:,.2f}"
    return f"{value:,.0f}"
