"""The bake on the execution path: which version serves this execution of a baking plugin, and
what it did. `route` and `observe` run on every execution and touch no disk: the bakes in
progress are read from `bakes.db` again only after it commits (`runtime/commits.py`), and counts
gather in memory. `flush` (the supervisor's, every second) adds them to the durable totals and
judges; what gathered since the last flush is lost with a crash, a second of evidence that the
bake gathers again.

The latency and cost thresholds are the baseline's own: its first WARMUP executions of the bake
set them (in the process that saw them first; the first process to flush them wins)."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.bake.evidence import WARMUP, Arm, Thresholds, Verdict, judge, observation
from runtime.bake.store import Bake, Bakes
from runtime.commits import KeptUntilCommit

ALL = "*"  # the one key the bakes in progress are kept under


class Canary:
    def __init__(self, path: Path, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = Bakes(path)
        self.rng = rng or random.Random()
        self.clock = clock
        self._kept: KeptUntilCommit[dict[str, Bake]] = KeptUntilCommit((path,))
        self._lock = threading.Lock()  # the counts gathering in memory
        # one SQLite connection: request threads read the bakes through it while the
        # supervisor writes; a statement of one must never run inside the other's transaction
        self._db = threading.Lock()
        self._pending: dict[str, tuple[Arm, Arm]] = {}
        self._warm: dict[str, tuple[list[float], list[float]]] = {}
        self._thresholds: dict[str, Thresholds] = {}

    def close(self) -> None:
        self.store.close()

    def _baking(self) -> dict[str, Bake]:
        kept, ticket = self._kept.get(ALL)
        if kept is not None:
            return kept
        with self._db:
            baking = {b.plugin: b for b in self.store.baking()}
        self._kept.put(ALL, baking, ticket)
        return baking

    def route(self, plugin: str, active: str) -> tuple[Bake, str] | None:
        """The bake of `plugin` and the version this execution runs, chosen at random with the
        canary weight; None when the plugin is not baking, or its bake is not of the active
        version (an operation changed it and the bake has not been ended yet)."""
        bake = self._baking().get(plugin)
        if bake is None or bake.candidate != active:
            return None
        return bake, bake.candidate if self.rng.random() < bake.weight else bake.baseline

    def observe(self, bake: Bake, version: str, ok: bool, latency_s: float,
                cost_usd: float) -> None:
        with self._lock:
            thresholds = bake.thresholds or self._thresholds.get(bake.id)
            seen = observation(ok, latency_s, cost_usd, thresholds)
            candidate, baseline = self._pending.get(bake.id, (Arm(), Arm()))
            if version == bake.candidate:
                self._pending[bake.id] = (candidate.plus(seen), baseline)
                return
            self._pending[bake.id] = (candidate, baseline.plus(seen))
            if thresholds is None:
                durations, costs = self._warm.setdefault(bake.id, ([], []))
                durations.append(latency_s)
                costs.append(cost_usd)
                if len(durations) >= WARMUP:
                    self._thresholds[bake.id] = Thresholds.from_samples(durations, costs)
                    del self._warm[bake.id]

    def flush(self) -> list[tuple[Bake, Verdict]]:
        """Add what gathered to the durable totals; the bakes whose evidence now decides, with
        their verdicts (each bake in progress is judged, also with nothing new: another process
        may have added counts)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            thresholds = dict(self._thresholds)
        decided = []
        with self._db:
            baking = self.store.baking()
        with self._lock:  # what was kept for bakes that ended is dropped
            for kept in (self._warm, self._thresholds):
                for ended in set(kept) - {b.id for b in baking}:
                    del kept[ended]
        for bake in baking:
            now: Bake | None = bake
            new_thresholds = bake.thresholds is None and bake.id in thresholds
            if bake.id in pending or new_thresholds:  # nothing to add: no write
                candidate, baseline = pending.pop(bake.id, (Arm(), Arm()))
                try:
                    with self._db:
                        now = self.store.add(bake.id, candidate, baseline,
                                             thresholds.get(bake.id))
                except sqlite3.Error:
                    self._restore(bake.id, candidate, baseline)  # counted at the next flush
                    raise
            if now is None:
                continue
            verdict = judge(now.weight, now.candidate_arm, now.baseline_arm,
                            min_executions=now.min_executions)
            if verdict.decision != "continue":
                decided.append((now, verdict))
        return decided

    def _restore(self, bake_id: str, candidate: Arm, baseline: Arm) -> None:
        with self._lock:
            mine, theirs = self._pending.get(bake_id, (Arm(), Arm()))
            self._pending[bake_id] = (mine.plus(candidate), theirs.plus(baseline))

    def decide(self, bake_id: str, state: str, decision: dict[str, Any], now: float) -> bool:
        """Close a bake with its verdict (`Bakes.decide`), on this canary's connection."""
        with self._db:
            return self.store.decide(bake_id, state, decision, now)
