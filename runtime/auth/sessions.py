"""UI sessions kept on the server: the signed cookie carries only a random session id, so
signing out ends the session for good (an old cookie replayed afterwards finds nothing), an idle
session ends after `idle_s` and any session after `lifetime_s`, and revoking the token ends its
sessions at their next request. In memory: a restart signs everyone out."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from runtime.auth.tokens import Principal

IDLE_S = 30 * 60.0
LIFETIME_S = 12 * 3600.0


@dataclass
class Session:
    principal: Principal
    csrf: str
    started: float
    seen: float


@dataclass
class Sessions:
    idle_s: float = IDLE_S
    lifetime_s: float = LIFETIME_S
    clock: Callable[[], float] = time.time
    _open: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, principal: Principal) -> str:
        now = self.clock()
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._expire(now)
            self._open[sid] = Session(principal, secrets.token_urlsafe(32), now, now)
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session (its idle clock restarted), or None."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            session = self._open.get(sid)
            if session is None or self._over(session, now):
                self._open.pop(sid, None)
                return None
            session.seen = now
            return session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._open.pop(sid or "", None)

    def _over(self, session: Session, now: float) -> bool:
        return now - session.seen > self.idle_s or now - session.started > self.lifetime_s

    def _expire(self, now: float) -> None:
        for sid in [s for s, session in self._open.items() if self._over(session, now)]:
            del self._open[sid]
