"""Who may call what: every /v1 request names its caller with `Authorization: Bearer <token>`;
reads need the viewer role, changes the operator role, decisions on approvals the admin role.
Failed attempts count against the client's address and the token id, and past the throttle's
limit every attempt is refused (429) until its window moves on; the first failure of a window and
the moment throttling starts are written to the audit log. Used by the Flask app's hook and by
the execution lane, so both doors ask the same questions in the same order."""

from __future__ import annotations

import math
from dataclasses import dataclass

from contracts.codes import Code
from contracts.errors import PluginopsError
from runtime.auth.throttle import Throttle
from runtime.auth.tokens import TOKEN, Principal, TokenStore
from runtime.sandbox.audit import AuditLog

# Health and metrics stay open (probes and Prometheus); the rest needs a token with a role.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_PATHS = ("/v1/approvals",)  # deciding on elevated privileges is an admin's


def required_role(method: str, path: str) -> str:
    if method not in MUTATING:
        return "viewer"
    return "admin" if path.startswith(ADMIN_PATHS) else "operator"


class Throttled(PluginopsError):
    """Too many failed authentications: 429, and when to come back."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(Code.AUTH_THROTTLED, "too many failed authentications",
                         where="Authorization", http_status=429,
                         next_step=f"retry in {self.retry_after_s} s with a valid token")


class Unauthenticated(PluginopsError):
    """No valid token: 401, with the scheme to use (`WWW-Authenticate`)."""

    challenge = 'Bearer realm="pluginops"'

    def __init__(self) -> None:
        super().__init__(Code.UNAUTHENTICATED, "no valid API token", where="Authorization",
                         http_status=401,
                         next_step="send `Authorization: Bearer <token>`; an admin creates "
                                   "tokens with `pluginops token create`")


@dataclass
class Access:
    tokens: TokenStore
    throttle: Throttle
    audit: AuditLog | None = None

    def checked(self, token: str, client: str | None, path: str) -> Principal | None:
        """The token's principal; a failure counts against the client and the token id, and
        past the limit every attempt is refused (Throttled) until the window moves on."""
        found = TOKEN.match(token)
        keys = [f"client:{client or '-'}", *([f"token:{found.group(1)}"] if found else [])]
        wait = self.throttle.retry_after(keys)
        if wait is not None:
            raise Throttled(wait)
        principal = self.tokens.authenticate(token)
        if principal is None:
            for key in keys:
                failure = self.throttle.failed(key)
                if self.audit is not None and (failure.first_of_window or
                                               failure.throttled_now):
                    self.audit.event("auth.refused", key=key, failures=failure.count,
                                     throttled=failure.throttled_now,
                                     window_s=self.throttle.window_s, path=path)
        return principal

    def authorize(self, header: str, method: str, path: str, client: str | None) -> Principal:
        """The caller of `method path` with this `Authorization` header, allowed to make the
        call; Unauthenticated (401), Throttled (429) or a 403 otherwise."""
        scheme, _, token = header.partition(" ")
        # a credential that is not a Bearer token is a failed attempt too (no header is none)
        principal = self.checked(token if scheme.lower() == "bearer" else "", client,
                                 path) if header else None
        if principal is None:
            raise Unauthenticated()
        needed = required_role(method, path)
        if not principal.may(needed):
            raise PluginopsError(Code.FORBIDDEN_ROLE, f"{principal.user} is a "
                                 f"{principal.role}; {method} {path} needs {needed}",
                                 where=path, http_status=403,
                                 next_step=f"ask an admin for a token with the {needed} role")
        return principal
