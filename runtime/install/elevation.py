"""The approval gate inside verify: a plugin whose elevated requests are not all approved (by the
org policy or by a second person) is not activated; the transaction ends `awaiting_approval`."""

from __future__ import annotations

from contracts.codes import Code
from contracts.errors import OperationFailed
from runtime.install.context import Tx
from runtime.install.transaction import AWAITING_APPROVAL
from runtime.manifest.model import Manifest
from runtime.sandbox.approvals import Request
from runtime.sandbox.scopes import elevated_scopes, scope


def check_elevation(tx: Tx, manifest: Manifest) -> None:
    env = tx.env
    now = env.clock()
    scopes = elevated_scopes(manifest)
    if not scopes:
        return
    approved = env.approvals.approved(manifest.name, now) if env.approvals else set()
    pending = []
    for wanted in scopes:
        decision = env.policy.decision(manifest.name, manifest.type, wanted)
        if decision == "forbidden":
            raise OperationFailed(Code.ELEVATION_FORBIDDEN, f"the org policy forbids {wanted} for "
                                  f"{manifest.name}", where=wanted,
                                  next_step="drop the request from the manifest, or change the "
                                            "policy (policy.yaml)")
        if wanted in approved:
            continue
        if decision == "auto_approved" and env.approvals is not None:
            env.approvals.decide(manifest.name, wanted, "approved", "policy",
                                 "auto-approved by the org policy", now, system=True)
            tx.note(f"{wanted} auto-approved by the org policy")
            continue
        pending.append(wanted)
    if not pending:
        return
    justification = {scope(r.kind, r.target): r.justification for r in manifest.sandbox.elevated}
    if env.approvals is not None:
        for wanted in pending:
            env.approvals.request(Request(manifest.name, wanted, manifest.version,
                                          env.requested_by, justification.get(wanted, ""),
                                          now, tx.id))
    commands = "; ".join(f"pluginops approve {manifest.name} --scope {s} --reason ... "
                         f"--as ADMIN" for s in pending)
    raise OperationFailed(
        AWAITING_APPROVAL,
        f"{manifest.name} {manifest.version} awaits approval of {', '.join(pending)}; "
        "nothing was activated", where=manifest.name,
        next_step=f"an admin other than {env.requested_by} runs: {commands}; then install "
                  "again")
