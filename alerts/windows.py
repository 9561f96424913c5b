"""Multi-window, multi-burn-rate alerting, as data: the SRE Workbook, chapter 5 ("Alerting on
SLOs"), table 5-8. Each tier pages or tickets when `budget_fraction` of the period's error budget
would be spent within `long`, confirmed by `short` (a twelfth of `long`) so the alert resets fast.

factor = budget_fraction * period / long: at 30 days 14.4, 6, 3 and 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.conventions import PAGE, TICKET

SHORT_WINDOWS = ("5m", "30m", "1h", "2h", "6h")  # from raw counters
LONG_WINDOWS = ("1d", "3d")  # from the 5m recorded rates (cheap)
ALL_WINDOWS = SHORT_WINDOWS + LONG_WINDOWS


@dataclass(frozen=True)
class Tier:
    severity: str
    budget_fraction: float
    long: str
    short: str

    def factor(self, period_seconds: float) -> float:
        return round(self.budget_fraction * period_seconds / seconds(self.long), 6)


TIERS = (
    Tier(PAGE, 0.02, "1h", "5m"),
    Tier(PAGE, 0.05, "6h", "30m"),
    Tier(TICKET, 0.10, "1d", "2h"),
    Tier(TICKET, 0.10, "3d", "6h"),
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(duration: str) -> float:
    """'30d' -> 2592000. Prometheus durations of one unit."""
    if len(duration) < 2 or duration[-1] not in _UNITS or not duration[:-1].isdigit():
        raise ValueError(f"not a duration: {duration!r}")
    return int(duration[:-1]) * _UNITS[duration[-1]]
