"""API tokens: `po_<id>_<secret>`, shown once when created; the store keeps the id, the user,
the role and the SHA-256 of the secret, never the secret. Roles are ordered: a viewer reads, an
operator also installs, updates, rolls back, uninstalls and executes, an admin also decides
approvals and edits the org policy.

The first admin is created on the host with `pluginops token create --user NAME --role admin`:
whoever can write the runtime's home is trusted to bootstrap it."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from contracts.codes import Code
from contracts.errors import OperationFailed, PluginopsError
from contracts.layout import Layout
from runtime.commits import KeptUntilCommit
from runtime.sqlite import open_db

ROLES = ("viewer", "operator", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES)}
TOKEN = re.compile(r"^po_([0-9a-f]{12})_([A-Za-z0-9_-]{32,})$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, user TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    secret_sha256 TEXT NOT NULL, created_at REAL NOT NULL, created_by TEXT NOT NULL,
    revoked_at REAL
);
"""


@dataclass(frozen=True)
class Principal:
    token_id: str
    user: str
    role: str

    def may(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    role: str
    created_at: float
    created_by: str
    revoked_at: float | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


KNOWN_CAP = 10_000  # tokens remembered at most (a store has far fewer)


class TokenStore:
    def __init__(self, home: Path) -> None:
        self.db = open_db(Layout(home).tokens_db, SCHEMA)
        # tokens that authenticated, until the store commits again (a revocation, a new token)
        self._known: KeptUntilCommit[Principal] = KeptUntilCommit((Layout(home).tokens_db,),
                                                                  cap=KNOWN_CAP)

    def create(self, user: str, role: str, created_by: str) -> tuple[str, TokenInfo]:
        if role not in ROLES:
            raise PluginopsError(Code.ROLE_INVALID, f"no role {role!r}", where="--role",
                                 next_step=f"one of {', '.join(ROLES)}")
        if not re.match(r"^[A-Za-z0-9._@-]{1,64}$", user):
            raise PluginopsError(Code.USER_INVALID, f"{user!r} is not a user name", where="--user",
                                 next_step="letters, digits and . _ @ -, up to 64")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = time.time()
        self.db.execute("INSERT INTO tokens (id, user, role, secret_sha256, created_at, "
                        "created_by) VALUES (?, ?, ?, ?, ?, ?)",
                        (token_id, user, role, _digest(secret), now, created_by))
        return f"po_{token_id}_{secret}", TokenInfo(token_id, user, role, now, created_by, None)

    def authenticate(self, token: str) -> Principal | None:
        """The token's principal, or None. A token that authenticated is remembered (by its
        digest) until the store next commits, so that a revocation by any process holds from
        the next request and a request otherwise costs no query."""
        match = TOKEN.match(token.strip())
        if not match:
            return None
        key = f"{match.group(1)}:{_digest(match.group(2))}"
        known, ticket = self._known.get(key)
        if known is not None:
            return known
        row = self.db.execute("SELECT * FROM tokens WHERE id = ?", (match.group(1),)).fetchone()
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(row["secret_sha256"], _digest(match.group(2))):
            return None
        principal = Principal(row["id"], row["user"], row["role"])
        self._known.put(key, principal, ticket)
        return principal

    def still_valid(self, token_id: str) -> bool:
        """Whether a token (of a signed-in session) exists and is not revoked."""
        row = self.db.execute("SELECT revoked_at FROM tokens WHERE id = ?",
                              (token_id,)).fetchone()
        return row is not None and row["revoked_at"] is None

    def revoke(self, token_id: str) -> TokenInfo:
        row = self.db.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise OperationFailed(Code.TOKEN_UNKNOWN, f"no token {token_id}", where=token_id,
                                  next_step="`pluginops token list` shows the ids",
                                  http_status=404)
        self.db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                        (time.time(), token_id))
        return self.list(token_id)[0]

    def list(self, token_id: str | None = None) -> list[TokenInfo]:
        query = "SELECT * FROM tokens" + (" WHERE id = ?" if token_id else "") + \
            " ORDER BY created_at"
        rows = self.db.execute(query, (token_id,) if token_id else ()).fetchall()
        return [TokenInfo(r["id"], r["user"], r["role"], r["created_at"], r["created_by"],
                          r["revoked_at"]) for r in rows]

    def close(self) -> None:
        self.db.close()
