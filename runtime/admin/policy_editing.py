"""Revising the org policy: validated by the one parser every reader uses
(`runtime.sandbox.policy.parse_policy`), then, under a lock, numbered, kept in
`policy-history/`, made the policy and audited, whichever door the admin used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts.files import atomic_write_bytes, exclusive_lock
from contracts.layout import Layout
from runtime.sandbox.audit import AuditTrail
from runtime.sandbox.policy import parse_policy


@dataclass(frozen=True)
class Revision:
    number: int
    by: str
    text: str


def revisions(home: Path) -> list[Revision]:
    """Newest first."""
    folder = Layout(home).policy_history
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.yaml"), reverse=True):
        number, _, user = path.stem.partition("-")
        if number.isdigit():
            out.append(Revision(int(number), user, path.read_text(encoding="utf-8")))
    return out


def revise(home: Path, text: str, by: str, reason: str, audit: AuditTrail | None,
           role: str = "", door: str = "") -> Revision:
    """Validate, then, under the policy lock, number the revision after the newest one, keep
    it, make it the policy, and audit it. Concurrent editors get distinct numbers."""
    parse_policy(text, "policy")
    safe_by = "".join(c if c.isalnum() or c in "._@" else "_" for c in by)[:64] or "unknown"
    layout = Layout(home)
    with exclusive_lock(layout.policy_lock):
        existing = revisions(home)
        number = existing[0].number + 1 if existing else 1
        atomic_write_bytes(layout.policy_history / f"{number:05d}-{safe_by}.yaml",
                           text.encode())
        atomic_write_bytes(layout.policy_file, text.encode())
        if audit is not None:
            audit.event("policy.edit", revision=number, by=by, role=role, door=door,
                        reason=reason)
    return Revision(number, safe_by, text)
