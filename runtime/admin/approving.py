"""Deciding on a plugin's request for an elevated scope: validate, record the decision (four
eyes, a reason, an optional expiry: `runtime.sandbox.approvals`), then audit it, the same way
whichever door the admin used."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.outcomes import Decision as DecisionValue
from runtime.sandbox.approvals import Approvals, Decision
from runtime.sandbox.audit import AuditTrail

DECISIONS = tuple(DecisionValue)
UNITS_S = {"m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Decider:
    """Who decides, and through which door (recorded with every decision)."""

    user: str
    role: str
    door: str  # cli, api, ui


def expiry_after(seconds: Any, now: float, where: str) -> float | None:
    """`seconds` from now (a positive, finite number of seconds), or None for no expiry."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or \
            not math.isfinite(seconds) or seconds <= 0:
        raise PluginopsError(Code.EXPIRY_INVALID, f"{seconds!r} is not a positive number of "
                             "seconds", where=where, next_step="e.g. 2592000 for 30 days")
    return now + float(seconds)


def expiry_from_text(text: str | None, now: float, where: str) -> float | None:
    """`90m`, `12h`, `30d` from now, or an RFC 3339 time; None for no expiry."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text[:-1].isdigit() and text[-1] in UNITS_S:
        return expiry_after(int(text[:-1]) * UNITS_S[text[-1]], now, where)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or moment.timestamp() <= now:
        raise PluginopsError(Code.EXPIRY_INVALID, f"{text[:100]!r} is not a time to come",
                             where=where, next_step="use 90m, 12h, 30d or an RFC 3339 time "
                             "with its offset, in the future")
    return moment.timestamp()


def decide(approvals: Approvals, audit: AuditTrail | None, plugin: str, scope: Any,
           decision: Any, decider: Decider, reason: Any, now: float,
           expires_at: float | None) -> Decision:
    if decision not in DECISIONS:
        raise PluginopsError(Code.DECISION_INVALID, f"{str(decision)[:50]!r} is not a decision",
                             where="decision", next_step="approved or denied")
    if not isinstance(scope, str) or ":" not in scope:
        raise PluginopsError(Code.SCOPE_INVALID, f"{str(scope)[:100]!r} is not a scope",
                             where="scope", next_step="KIND:TARGET, e.g. network:api.example.com")
    made = approvals.decide(plugin, scope, decision, decider.user,
                            reason if isinstance(reason, str) else "", now, expires_at)
    if audit is not None:
        audit.event(f"approval.{decision}", at=now, plugin=plugin, scope=made.scope,
                    by=decider.user, role=decider.role, door=decider.door, reason=made.reason,
                    expires_at=made.expires_at)
    return made
