"""Failed authentications, counted and slowed down: per client address and per token id, at
most `limit` failures in a sliding `window_s`; past that, every attempt from that key is refused
(429 with Retry-After) until the oldest failure leaves the window, whether or not it would have
succeeded. A pure core with an injected clock; the app turns its answers into responses and
audit records (one when a key's first failure of a window happens, one when it is throttled:
refusals are audited in aggregate, so a flood cannot flood the audit log)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 100_000  # memory bound: the oldest keys are forgotten first


@dataclass
class Failure:
    first_of_window: bool  # the first failure of this key in the window: audit it
    throttled_now: bool  # this failure crossed the limit: audit that too
    count: int  # failures of this key in the window


@dataclass
class Throttle:
    limit: int = 10
    window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, keys: list[str]) -> float | None:
        """Seconds until the most throttled of these keys may try again; None: not throttled."""
        now = self.clock()
        with self._lock:
            waits = [times[0] + self.window_s - now for key in keys
                     if len(times := self._recent(key, now)) >= self.limit]
        return max(waits) if waits else None

    def failed(self, key: str) -> Failure:
        now = self.clock()
        with self._lock:
            times = self._recent(key, now)
            if not times:
                if len(self._failures) >= MAX_KEYS:
                    self._failures.pop(next(iter(self._failures)))
                self._failures[key] = times
            times.append(now)
            return Failure(len(times) == 1, len(times) == self.limit, len(times))
