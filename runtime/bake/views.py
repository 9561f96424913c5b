"""A bake as people read it: one line for the CLI and the UI timeline, a JSON object for the
API."""

from __future__ import annotations

from typing import Any

from runtime.bake.evidence import describe
from runtime.bake.store import BAKING, PROMOTED, ROLLED_BACK, Bake


def bake_line(bake: Bake) -> str:
    """"Baking 2.1.0: 10% of executions, 412 so far, error ratio 0.2% vs 0.1%" or the
    decision: "Rolled back to v2.0.0: error ratio 4.1% against 0.1% after 300 executions"."""
    candidate, baseline = bake.candidate_arm, bake.baseline_arm
    if bake.state == BAKING:
        judged = "" if bake.thresholds else "; latency and cost thresholds not set yet"
        return (f"Baking {bake.candidate}: {bake.weight:.0%} of executions, "
                f"{candidate.executions} so far (promoted at {bake.min_executions} judged), "
                f"error ratio {candidate.error_ratio:.1%} vs {baseline.error_ratio:.1%}"
                f"{judged}")
    summary = (bake.decision or {}).get("summary") or describe("errors", candidate, baseline)
    if bake.state == ROLLED_BACK:
        return f"Rolled back to v{bake.baseline}: {summary}"
    if bake.state == PROMOTED:
        return f"Promoted {bake.candidate}: {summary}"
    why = bake.decision or {}
    return (f"Bake of {bake.candidate} ended without a verdict: {why.get('reason', '?')} "
            f"({why.get('by') or 'no transaction'})")


def bake_view(bake: Bake) -> dict[str, Any]:
    return {**bake.to_dict(), "line": bake_line(bake)}
