"""The scorecard as the API, the UI and the CLI show it: figures in their units, the change
against the previous period, and whether the target is met."""

from __future__ import annotations

from contracts.kpis import Unit
from runtime.kpi.compute import MET, MISSED, NO_BASELINE, NO_DATA, KpiValue

STATUS_TEXT = {MET: "met", MISSED: "missed", NO_DATA: "no data yet",
               NO_BASELINE: "no baseline yet"}


def shown(value: float | None, unit: str) -> str:
    """A figure in its unit: `97.5%`, `84 s`, `3`."""
    if value is None:
        return "-"
    if unit == Unit.RATIO:
        return f"{value:.1%}" if value < 10 else f"{value:.3g}"
    if unit == Unit.SECONDS:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    return f"{value:g}"


def change_text(value: KpiValue) -> str:
    return "-" if value.change is None else f"{value.change:+.0%}"


def kpi_line(value: KpiValue) -> str:
    return (f"{value.title}: {shown(value.current, value.unit)} (previous "
            f"{shown(value.previous, value.unit)}, change {change_text(value)}); target "
            f"{value.target_text}: {STATUS_TEXT[value.status]}")


def detail_text(value: KpiValue) -> str:
    """The counts behind a value: `resolved 2, unresolved 1`, `mttd s: error-spike 64.5`."""
    parts = []
    for key, item in value.detail.items():
        if item is None:
            continue
        shown_item = f"{item:g}" if isinstance(item, float) else str(item)
        label = key if key.isupper() else key.replace("_", " ").replace(":", ": ")  # codes kept
        parts.append(f"{label} {shown_item}")
    return ", ".join(parts)
