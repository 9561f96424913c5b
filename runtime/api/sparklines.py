"""Small server-rendered charts: a trend figure's points (this window, and the window before
overlaid) as SVG polyline coordinates, scaled into a fixed box. No script, no build step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PAD = 240.0, 60.0, 4.0


@dataclass(frozen=True)
class Sparkline:
    current: str  # "x,y x,y ..." for <polyline points=...>, or "" without points
    previous: str
    low: float | None
    high: float | None


def _path(values: list[float | None], low: float, high: float) -> str:
    span = high - low or 1.0
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    inner = HEIGHT - 2 * PAD
    return " ".join(f"{PAD + i * step:.1f},{HEIGHT - PAD - (v - low) / span * inner:.1f}"
                    for i, v in enumerate(values) if v is not None)


def sparkline(points: list[dict[str, Any]]) -> Sparkline:
    """`points`: the trend document's [{"current": v, "previous": v}, ...] of one figure."""
    now = [p.get("current") for p in points]
    before = [p.get("previous") for p in points]
    known = [v for v in (*now, *before) if v is not None]
    if not known:
        return Sparkline("", "", None, None)
    low, high = min(known), max(known)
    return Sparkline(_path(now, low, high), _path(before, low, high), low, high)
