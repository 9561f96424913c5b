"""Requests for elevated scopes and the decisions on them, in SQLite beside the journal.

Four eyes: the approver must differ from whoever asked for the install. A decision records who,
when, why, the scope and an optional expiry; approvals are per plugin and scope, so an update
that asks for nothing new needs nothing new, and one that asks for more waits again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts.codes import Code
from contracts.errors import OperationFailed, PluginopsError
from contracts.outcomes import Decision as DecisionValue
from runtime.sqlite import open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS approval_requests (
    plugin TEXT NOT NULL, scope TEXT NOT NULL, version TEXT NOT NULL,
    requested_by TEXT NOT NULL, justification TEXT NOT NULL, requested_at REAL NOT NULL,
    tx_id TEXT NOT NULL, PRIMARY KEY (plugin, scope)
);
CREATE TABLE IF NOT EXISTS approval_decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, plugin TEXT NOT NULL, scope TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('approved', 'denied')),
    decided_by TEXT NOT NULL, reason TEXT NOT NULL, decided_at REAL NOT NULL,
    expires_at REAL
);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON approval_decisions
    BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON approval_decisions
    BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
"""


@dataclass(frozen=True)
class Request:
    plugin: str
    scope: str
    version: str
    requested_by: str
    justification: str
    requested_at: float
    tx_id: str


@dataclass(frozen=True)
class Decision:
    seq: int
    plugin: str
    scope: str
    decision: str
    decided_by: str
    reason: str
    decided_at: float
    expires_at: float | None

    def in_force(self, now: float) -> bool:
        return self.decision == DecisionValue.APPROVED and \
            (self.expires_at is None or now < self.expires_at)


class Approvals:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_db(path, SCHEMA)

    def close(self) -> None:
        self.db.close()

    def request(self, req: Request) -> None:
        self.db.execute(
            "INSERT INTO approval_requests VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (plugin, "
            "scope) DO UPDATE SET version = excluded.version, requested_by = "
            "excluded.requested_by, justification = excluded.justification, requested_at = "
            "excluded.requested_at, tx_id = excluded.tx_id",
            (req.plugin, req.scope, req.version, req.requested_by, req.justification,
             req.requested_at, req.tx_id))

    def requests(self, plugin: str | None = None) -> list[Request]:
        sql = "SELECT * FROM approval_requests"
        args: tuple[str, ...] = ()
        if plugin:
            sql, args = sql + " WHERE plugin = ?", (plugin,)
        return [Request(**dict(r)) for r in self.db.execute(sql + " ORDER BY plugin, scope",
                                                             args)]

    def decide(self, plugin: str, scope: str, decision: str, by: str, reason: str, now: float,
               expires_at: float | None = None, system: bool = False) -> Decision:
        if not reason.strip():
            raise PluginopsError(Code.REASON_REQUIRED, "a decision needs a reason",
                                 where="--reason", next_step="say why, in a sentence")
        pending = {r.scope: r for r in self.requests(plugin)}
        req = pending.get(scope)
        if req is None and not system:
            asked = ", ".join(pending) or "nothing"
            raise OperationFailed(Code.NO_SUCH_REQUEST, f"{plugin} has not requested {scope}",
                                  where=scope, next_step=f"requested: {asked}",
                                  http_status=404)
        if req is not None and req.requested_by == by and not system:
            raise OperationFailed(Code.FOUR_EYES, f"{by} asked for this install and cannot also "
                                  "approve or deny it", where=by,
                                  next_step="another admin must decide", http_status=403)
        cur = self.db.execute(
            "INSERT INTO approval_decisions (plugin, scope, decision, decided_by, reason, "
            "decided_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (plugin, scope, decision, by, reason, now, expires_at))
        return Decision(int(cur.lastrowid or 0), plugin, scope, decision, by, reason, now,
                        expires_at)

    def decisions(self, plugin: str | None = None) -> list[Decision]:
        sql = "SELECT * FROM approval_decisions"
        args: tuple[str, ...] = ()
        if plugin:
            sql, args = sql + " WHERE plugin = ?", (plugin,)
        return [Decision(**dict(r)) for r in self.db.execute(sql + " ORDER BY seq", args)]

    def latest(self, plugin: str) -> dict[str, Decision]:
        """The decision in force per scope: the newest one."""
        out: dict[str, Decision] = {}
        for decision in self.decisions(plugin):
            out[decision.scope] = decision
        return out

    def approved(self, plugin: str, now: float) -> set[str]:
        return {s for s, d in self.latest(plugin).items() if d.in_force(now)}
