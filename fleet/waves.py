"""Which hosts take the new version together: one canary first, then a share of the rest,
then the rest. Pure."""

from __future__ import annotations

import math


def plan_waves(hosts: list[str], canary: int = 1, share: float = 0.5) -> list[list[str]]:
    """`canary` hosts, then `share` of the others (at least one), then the rest; empty waves
    are dropped, the order of `hosts` kept."""
    first, rest = hosts[:canary], hosts[canary:]
    middle = rest[:max(1, math.ceil(len(rest) * share))] if rest else []
    return [wave for wave in (first, middle, rest[len(middle):]) if wave]
