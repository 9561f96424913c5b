"""What an operation does to bakes once it has committed: an update asked to bake starts one
(the previous version kept on disk, warm, serving most executions); a rollback the bake's
evidence asked for closes that bake as rolled back; any other operation on the plugin (an update
without a bake, a manual rollback, an uninstall) ends its bake without a verdict. Each is written
to the bake's record and to the journal, on the transaction that caused it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.codes import Code
from contracts.errors import PluginopsError
from contracts.outcomes import TransactionState
from runtime.bake.evidence import DEFAULT_WEIGHT, MIN_EXECUTIONS
from runtime.bake.store import ROLLED_BACK, Bake, Bakes
from runtime.install.context import Env
from runtime.install.transaction import Outcome
from runtime.sandbox.policy import OrgPolicy


@dataclass(frozen=True)
class BakeRequest:
    """How to bake: the canary weight (the share of executions the new version serves) and
    how many of its executions are judged on every measure before it is promoted."""

    weight: float = DEFAULT_WEIGHT
    min_executions: int = MIN_EXECUTIONS

    def __post_init__(self) -> None:
        if not 0.0 < self.weight < 1.0:
            raise PluginopsError(Code.BAKE_INVALID, f"canary weight {self.weight:g} is not "
                                 "between 0 and 1", where="canary_weight",
                                 next_step="give a share such as 0.1 (10% of executions)")
        if self.min_executions < 1:
            raise PluginopsError(Code.BAKE_INVALID, f"{self.min_executions} executions to "
                                 "judge", where="bake_executions",
                                 next_step="give at least 1 (default 200)")


def request_for(policy: OrgPolicy, bake: bool | None, weight: float | None = None,
                executions: int | None = None) -> BakeRequest | None:
    """What the command asked, the org policy's `bake` section for what it did not: whether
    to bake (`always`), the weight, the executions."""
    if not (policy.bake.always if bake is None else bake):
        return None
    return BakeRequest(policy.bake.weight if weight is None else weight,
                       policy.bake.min_executions if executions is None else executions)


def after(env: Env, outcome: Outcome, request: BakeRequest | None = None,
          cause: dict[str, Any] | None = None) -> Bake | None:
    """Record what `outcome` does to the plugin's bake; the bake started, if one was."""
    done = outcome.state == TransactionState.COMMITTED
    if not done and not (cause and outcome.state == TransactionState.NOOP):
        return None  # a failed operation left the active version, and so the bake, as they were
    bakes = Bakes(env.layout.bakes_db)
    try:
        now = env.clock()
        if cause is not None:
            bakes.decide(cause["bake_id"], ROLLED_BACK,
                         {**cause, "rollback_tx": outcome.tx_id or None,
                          "active_version": outcome.active_version}, now)
            if outcome.tx_id:
                env.journal.event(outcome.tx_id, "bake_verdict", detail=cause, now=now)
            return None
        if request is not None and outcome.operation == "update" and outcome.from_version:
            assert outcome.to_version is not None
            bake = bakes.start(outcome.tx_id, outcome.plugin, outcome.to_version,
                               outcome.from_version, request.weight, request.min_executions,
                               now)
            env.journal.event(outcome.tx_id, "bake_started", now=now, detail={
                "candidate": bake.candidate, "baseline": bake.baseline,
                "weight": bake.weight, "min_executions": bake.min_executions})
            return bake
        ended = bakes.end(outcome.plugin, {"reason": outcome.operation, "by": outcome.tx_id},
                          now)
        if ended is not None:
            env.journal.event(ended.id, "bake_ended", now=now,
                              detail={"reason": outcome.operation, "by": outcome.tx_id})
        return None
    finally:
        bakes.close()
